//! Measures argon2id hashes per second on one core with the configured parameters: the bound
//! that login throughput is compared against (`bench/login.sh`).

use std::path::PathBuf;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let path = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "config.toml".into()),
    );
    let settings = phonebill::settings::Settings::load(&path)?;
    let a = &settings.auth;
    let argon2 = phonebill::infra::identity::password::argon2id(a)?;
    let hash = phonebill::infra::identity::password::hash_with(&argon2, "Passw0rd!")?;
    let rounds = 100;
    let started = Instant::now();
    for _ in 0..rounds {
        // The very function the service's hashing threads run.
        anyhow::ensure!(
            phonebill::infra::identity::password::verify_in_place("Passw0rd!", &hash),
            "verification failed"
        );
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "argon2id m={} t={} p={}: {:.2} ms per verify, {:.1} verifies/s on one core",
        a.argon2_memory_kib,
        a.argon2_iterations,
        a.argon2_parallelism,
        secs * 1000.0 / f64::from(rounds),
        f64::from(rounds) / secs
    );
    Ok(())
}
