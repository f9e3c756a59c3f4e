//! Standard output for the commands: a closed pipe (`firebreak crisis status | head -1`)
//! ends the command quietly, as with any Unix tool, instead of panicking the way
//! `println!` does.

use std::io::Write;

/// Prints one line; see [`crate::outln`].
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // The reader has gone: nothing more anyone will read.
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// `println!` that never panics on a closed pipe.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::out::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}
