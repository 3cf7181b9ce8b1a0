//! Entry points, image reset and the symbols the Microkit tool patches.
//!
//! The linker script `sel4.ld` puts the section `.text.start` first at 0x200000 in
//! every PD ELF. It holds four 64-byte entries at fixed addresses (see
//! [`crate::sel4_abi::entry`]; the script asserts them):
//!
//! | address  | symbol                     | what                                  |
//! |----------|----------------------------|---------------------------------------|
//! | 0x200000 | `_start`                   | boot and restart: SP, reset, run PD   |
//! | 0x200040 | `__reincarnate_inject`     | x0 = injection code; performs it      |
//! | 0x200080 | `__reincarnate_panic_trap` | VM fault at 0x50: "this PD panicked"  |
//! | 0x2000c0 | `__reincarnate_exit_trap`  | VM fault at 0x100+status: "exited"    |
//!
//! A parent restarts a child by pointing its PC at `_start` (and SP at the stack
//! top) with `TCB_WriteRegisters`; `_start` makes the image fresh again: `.data`
//! from a pristine copy taken on the first boot, `.bss` (which holds the heap)
//! zeroed. Microkit itself does no such thing (it only writes the PC).
//!
//! Limitation: the pristine copy and its "valid" word are ordinary writable memory
//! of the PD (sections `.reincarnate.pristine`, `.reincarnate.keep`), so a wild
//! write into them survives a restart. Page-protecting them would need the tool
//! to map them read-only, which an SDF cannot express for part of an ELF.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::sel4_abi::{self, Boot, EXIT_ADDRESS_BASE, PANIC_ADDRESS, STACK_TOP};

core::arch::global_asm!(
    r#"
    .section .text.start, "ax", %progbits
    .p2align 6
    .global _start
    .type _start, %function
_start:
    movz x9, #{sp0}
    movk x9, #{sp1}, lsl #16
    movk x9, #{sp2}, lsl #32
    mov sp, x9
    mov x29, xzr
    mov x30, xzr
    bl {reset}
    bl __reincarnate_pd_main
1:  b 1b
    .size _start, . - _start

    .p2align 6
    .global __reincarnate_inject
    .type __reincarnate_inject, %function
__reincarnate_inject:
    movz x9, #{sp0}
    movk x9, #{sp1}, lsl #16
    movk x9, #{sp2}, lsl #32
    mov sp, x9
    mov x29, xzr
    mov x30, xzr
    bl {inject}
1:  b 1b
    .size __reincarnate_inject, . - __reincarnate_inject

    .p2align 6
    .global __reincarnate_panic_trap
    .type __reincarnate_panic_trap, %function
__reincarnate_panic_trap:
    mov x9, #{panic_addr}
    str xzr, [x9]
    b __reincarnate_panic_trap
    .size __reincarnate_panic_trap, . - __reincarnate_panic_trap

    .p2align 6
    .global __reincarnate_exit_trap
    .type __reincarnate_exit_trap, %function
__reincarnate_exit_trap:
    and x0, x0, #0xff
    add x0, x0, #{exit_base}
    str xzr, [x0]
    b __reincarnate_exit_trap
    .size __reincarnate_exit_trap, . - __reincarnate_exit_trap
    .p2align 6
    "#,
    sp0 = const STACK_TOP & 0xffff,
    sp1 = const (STACK_TOP >> 16) & 0xffff,
    sp2 = const (STACK_TOP >> 32) & 0xffff,
    reset = sym reincarnate_reset,
    inject = sym reincarnate_inject_entry,
    panic_addr = const PANIC_ADDRESS,
    exit_base = const EXIT_ADDRESS_BASE,
);

unsafe extern "C" {
    fn __reincarnate_panic_trap() -> !;
    fn __reincarnate_exit_trap(status: u64) -> !;

    // Defined by `sel4.ld`.
    static mut __reincarnate_data_start: u8;
    static mut __reincarnate_data_end: u8;
    static mut __reincarnate_bss_start: u8;
    static mut __reincarnate_bss_end: u8;
    static mut __reincarnate_pristine_start: u8;
}

/// "The pristine copy of `.data` is valid": outside `.data`/`.bss`, loaded as 0.
#[unsafe(link_section = ".reincarnate.keep")]
static PRISTINE_VALID: Patched<u64> = Patched::new(0);

/// Whether this start is a restart (set by `reincarnate_reset`, in `.bss`).
static RESTARTED: AtomicBool = AtomicBool::new(false);

/// Resets `.data` and `.bss`; runs on the fresh stack before any Rust state is used.
extern "C" fn reincarnate_reset() {
    let start = &raw mut __reincarnate_data_start;
    let len = &raw mut __reincarnate_data_end as usize - start as usize;
    let bss = &raw mut __reincarnate_bss_start;
    let bss_len = &raw mut __reincarnate_bss_end as usize - bss as usize;
    let mut valid = PRISTINE_VALID.get();
    // SAFETY: the linker script defines these ranges as this PD's `.data`, `.bss`
    // and a disjoint pristine area of `.data`'s size, all mapped read-write. No Rust
    // code holds a reference into them yet (this runs first, on a fresh stack).
    let boot = unsafe {
        sel4_abi::reset_image(
            core::slice::from_raw_parts_mut(start, len),
            core::slice::from_raw_parts_mut(&raw mut __reincarnate_pristine_start, len),
            core::slice::from_raw_parts_mut(bss, bss_len),
            &mut valid,
        )
    };
    // Volatile, so the word stays a full u64 in its own section.
    // SAFETY: `PRISTINE_VALID` is a valid u64 that nothing else references.
    unsafe { PRISTINE_VALID.0.get().write_volatile(valid) };
    RESTARTED.store(boot == Boot::Restart, Ordering::Relaxed);
}

/// Whether this run of the PD is a restart (not the first boot).
pub(crate) fn restarted() -> bool {
    RESTARTED.load(Ordering::Relaxed)
}

/// The injection entry: a parent pointed our PC here with the kind in x0.
extern "C" fn reincarnate_inject_entry(code: u64) -> ! {
    match crate::inject::InjectKind::from_code(code) {
        Some(kind) => crate::dispatch::perform_injection(kind),
        None => panic!("unknown injection code {code}"),
    }
    // `perform` returns only for kinds that do not end the PD (none today); the
    // interrupted computation cannot be resumed (its stack was reset).
    panic!("injection {code} returned")
}

/// Ends the PD with the fault its parent decodes as a panic.
pub(crate) fn panic_trap() -> ! {
    // SAFETY: the trap only faults, forever.
    unsafe { __reincarnate_panic_trap() }
}

/// Ends the PD with the fault its parent decodes as an exit with `status & 0xff`.
pub(crate) fn exit_trap(status: u64) -> ! {
    // SAFETY: the trap only faults, forever.
    unsafe { __reincarnate_exit_trap(status) }
}

/// A value the Microkit tool patches in the ELF file. Interior mutability keeps the
/// compiler from treating the (zero) initial value as a constant; it is never
/// written at run time, and read with volatile loads.
#[repr(transparent)]
pub(crate) struct Patched<T>(UnsafeCell<T>);

// SAFETY: never written at run time (only by the tool, before boot); a PD is one thread.
unsafe impl<T> Sync for Patched<T> {}

impl<T: Copy> Patched<T> {
    const fn new(value: T) -> Self {
        Patched(UnsafeCell::new(value))
    }

    pub(crate) fn get(&self) -> T {
        // SAFETY: the cell is valid for reads; volatile because the tool patched it.
        unsafe { self.0.get().read_volatile() }
    }
}

/// The symbols the Microkit tool patches. They live in `.reincarnate.patched`,
/// which the linker script keeps, loads, and leaves out of the reset (they are not
/// in `.bss`, unlike libmicrokit's, because `.bss` is zeroed on every start).
pub(crate) mod patched {
    use super::Patched;

    macro_rules! patched {
        ($($symbol:literal => $name:ident: $ty:ty = $init:expr;)*) => {$(
            #[unsafe(export_name = $symbol)]
            #[unsafe(link_section = ".reincarnate.patched")]
            #[used]
            pub(crate) static $name: Patched<$ty> = Patched::new($init);
        )*};
    }

    patched! {
        "microkit_name" => NAME: [u8; 64] = [0; 64];
        "microkit_passive" => PASSIVE: u8 = 0;
        "microkit_irqs" => IRQS: u64 = 0;
        "microkit_notifications" => NOTIFICATIONS: u64 = 0;
        "microkit_pps" => PPS: u64 = 0;
        "microkit_ioports" => IOPORTS: u64 = 0;
    }

    /// This PD's name, up to the first NUL.
    pub(crate) fn name() -> &'static [u8] {
        let bytes: [u8; 64] = NAME.get();
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        // SAFETY: `NAME` is a static never written at run time; `len <= 64`.
        unsafe { core::slice::from_raw_parts(NAME.0.get().cast::<u8>(), len) }
    }
}
