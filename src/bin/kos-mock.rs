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
    /// Browser origin allowed to call it (CORS); repeat for several.
    #[arg(long = "cors-origin", default_value = phonebill::simulator::DEFAULT_CORS_ORIGIN)]
    cors_origins: Vec<String>,
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let phonebill::simulator::Running { port, server, .. } =
        phonebill::simulator::launch(&cli.host, cli.port, cli.workers, &cli.cors_origins)?;
    println!("kos-mock listening on {}:{port}", cli.host);
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        handle.stop(true).await;
    });
    server.await
}
