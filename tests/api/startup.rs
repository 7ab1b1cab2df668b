//! The binary's start-up: configuration errors name their key, production refuses the
//! default secret, secrets are never printed; migrations tolerate concurrent instances.

use std::process::Command;

fn phonebill(envs: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_phonebill"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .envs(envs.iter().copied())
        .args(["serve", "--no-migrate"])
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_value_stops_start_up_naming_the_key() {
    let (code, stderr) = phonebill(&[("PHONEBILL__SERVER__PORT", "eighty")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("server.port"), "{stderr}");

    let (code, stderr) = phonebill(&[("PHONEBILL__ACTORS__SESSION__MAILBOX", "0")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("actors.session.mailbox"), "{stderr}");

    let (code, stderr) = phonebill(&[("PHONEBILL__SERVER__MODE", "staging")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("server.mode"), "{stderr}");
}

#[test]
fn the_secret_earlier_versions_shipped_is_refused_without_being_printed() {
    let (code, stderr) = phonebill(&[(
        "PHONEBILL__JWT__SECRET",
        phonebill::settings::DEFAULT_JWT_SECRET,
    )]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("jwt.secret"), "{stderr}");
    assert!(!stderr.contains("phonebill-development-secret"), "{stderr}");
    // Production mode refuses fault injection.
    let (code, stderr) = phonebill(&[
        ("PHONEBILL__SERVER__MODE", "production"),
        ("PHONEBILL__ADMIN__FAULT_INJECTION", "true"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("admin.fault_injection"), "{stderr}");
}

#[test]
fn environment_overrides_reach_nested_tables() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    // Settings::load reads the process environment; use a child process to keep tests apart.
    let out = Command::new(env!("CARGO_BIN_EXE_phonebill"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PHONEBILL__ACTORS__ACCOUNT__SHARDS", "0")
        .args(["--config", path.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("actors.account.shards"), "{stderr}");
}

#[actix_web::test]
async fn instances_starting_together_migrate_once() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    use secrecy::ExposeSecret;

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    // Three instances start at the same moment on a database that does not exist yet.
    let apps = crate::helpers::spawn_apps_together(3).await;
    for app in &apps {
        assert_eq!(
            app.get("/health/ready", None).await.status(),
            reqwest::StatusCode::OK
        );
    }
    let mut conn = AsyncPgConnection::establish(apps[0].settings.database.url.expose_secret())
        .await
        .unwrap();
    let count = |sql: &'static str| diesel::sql_query(sql);
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("up.sql").exists())
        .count() as i64;
    // Every migration ran once: recorded once, and its one-row inserts are there once.
    let recorded: Count = count("SELECT count(*) AS n FROM __diesel_schema_migrations")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(recorded.n, migrations);
    let distinct: Count =
        count("SELECT count(DISTINCT version) AS n FROM __diesel_schema_migrations")
            .get_result(&mut conn)
            .await
            .unwrap();
    assert_eq!(distinct.n, migrations);
    let decoys: Count = count("SELECT count(*) AS n FROM users WHERE user_id = '!decoy'")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(decoys.n, 1);
    // One shared JWT master, so a token issued by one instance is good at the others.
    let masters: Count = count("SELECT count(*) AS n FROM jwt_master")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(masters.n, 1);
    let tokens = apps[0].login("user01").await;
    for app in &apps[1..] {
        assert_eq!(
            app.get("/api/v1/auth/verify", Some(&tokens.access))
                .await
                .status(),
            reqwest::StatusCode::OK
        );
    }
}
