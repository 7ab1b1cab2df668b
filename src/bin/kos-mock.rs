//! `kos-mock`: the KOS-Order and MVNO AP simulator on its own.

use clap::Parser;

#[derive(Parser)]
#[command(name = "kos-mock", version, about = "KOS-Order and MVNO AP simulator")]
struct Cli {
    /// Port to listen on (0 = a free one, printed at start).
    #[arg(long, default_value_t = 9090)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let (port, server) = phonebill::simulator::start(&cli.host, cli.port, cli.workers)?;
    println!("kos-mock listening on {}:{port}", cli.host);
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        handle.stop(true).await;
    });
    server.await
}
