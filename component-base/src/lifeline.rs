//! `--lifeline`: exit when standard input closes. Test harnesses start components with a pipe
//! on stdin; if the harness dies for any reason, the pipe closes and the component follows, so
//! no test ever leaves a process behind.

/// Starts a thread that exits the process once stdin reaches EOF.
pub fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut sink = std::io::sink();
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut sink);
        tracing::info!("stdin closed (--lifeline): exiting");
        std::process::exit(0);
    });
}
