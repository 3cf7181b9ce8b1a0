//! The throughput-over-time plot: one panel per run, the injected failures
//! marked, as SVG.

use std::path::Path;

use plotters::prelude::*;

/// One panel.
pub struct Panel {
    pub title: String,
    /// (s, MB/s).
    pub series: Vec<(f64, f64)>,
    /// When failures were injected (s).
    pub marks: Vec<f64>,
}

/// Draws `panels` one above the other into `path`.
pub fn throughput(path: &Path, caption: &str, panels: &[Panel]) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("plotting {}: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
    }
    let root = SVGBackend::new(path, (1100, 40 + 200 * panels.len() as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root.titled(caption, ("sans-serif", 18)).map_err(|e| err(&e))?;
    for (area, panel) in root.split_evenly((panels.len(), 1)).iter().zip(panels) {
        let x_max = panel.series.last().map_or(1.0, |p| p.0 + 0.05).max(1.0);
        let y_max = panel.series.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 14))
            .margin(6)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(|e| err(&e))?;
        chart.configure_mesh().x_desc("s").y_desc("MB/s").draw().map_err(|e| err(&e))?;
        for &at in &panel.marks {
            chart.draw_series(LineSeries::new([(at, 0.0), (at, y_max)], RED.mix(0.5))).map_err(|e| err(&e))?;
        }
        chart.draw_series(LineSeries::new(panel.series.iter().copied(), &BLUE)).map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_an_svg_with_the_marks() {
        let path = std::env::temp_dir().join(format!("xtask-plot-{}.svg", std::process::id()));
        let panel = Panel { title: "download".into(), series: vec![(0.05, 10.0), (0.15, 0.0)], marks: vec![0.1] };
        throughput(&path, "test", &[panel]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(svg.contains("download"));
        assert!(svg.contains("#FF0000"), "a red mark");
    }
}
