//! Measures argon2id hashes per second on one core with the configured parameters: the bound
//! that login throughput is compared against (`bench/login.sh`).

use std::path::PathBuf;
use std::time::Instant;

use argon2::password_hash::{PasswordHash, PasswordVerifier as _};

fn main() -> anyhow::Result<()> {
    let path = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "config.toml".into()),
    );
    let settings = phonebill::settings::Settings::load(&path)?;
    let a = &settings.auth;
    let argon2 = phonebill::infra::password::argon2id(a)?;
    let hash = phonebill::infra::password::hash_with(&argon2, "Passw0rd!")?;
    let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rounds = 100;
    let started = Instant::now();
    for _ in 0..rounds {
        argon2
            .verify_password(b"Passw0rd!", &parsed)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
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
