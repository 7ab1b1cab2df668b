//! Demo data (`phonebill seed-demo`): the users of SPEC section 7 and, on request, load-test
//! users `load00001…` on lines `010-5000-0001…`. Idempotent: existing users are left alone.

use crate::infra::identity::password::PasswordHasher;
use crate::infra::identity::users::{self, NewUserRow};
use crate::infra::{db, StoreError};
use crate::settings::Settings;

pub const DEMO_PASSWORD: &str = "Passw0rd!";

/// `(user_id, customer_id, name, line, permissions)`.
const DEMO_USERS: [(&str, &str, &str, &str, &[&str]); 6] = [
    (
        "user01",
        "CUST001",
        "김민준",
        "01012345001",
        &["BILL_INQUIRY", "PRODUCT_CHANGE"],
    ),
    (
        "user02",
        "CUST002",
        "이서연",
        "01012345002",
        &["BILL_INQUIRY"],
    ),
    (
        "user03",
        "CUST003",
        "박지호",
        "01012345003",
        &["BILL_INQUIRY", "PRODUCT_CHANGE"],
    ),
    (
        "user04",
        "CUST004",
        "최수아",
        "01012345004",
        &["BILL_INQUIRY", "PRODUCT_CHANGE"],
    ),
    (
        "user05",
        "CUST005",
        "정하준",
        "01012345005",
        &["BILL_INQUIRY", "PRODUCT_CHANGE"],
    ),
    (
        "admin",
        "CUST000",
        "관리자",
        "01012345000",
        &["BILL_INQUIRY", "PRODUCT_CHANGE", "ADMIN", "USER_MANAGEMENT"],
    ),
];

/// Largest `--load-users`: the simulator's generated range holds 1,000,000 lines.
pub const MAX_LOAD_USERS: u32 = 999_999;

/// Load user `n` (1-based): `load00001`, line `010-5000-0001`.
pub fn load_user(n: u32) -> (String, String) {
    (format!("load{n:05}"), format!("010{:08}", 50_000_000 + n))
}

pub struct SeedReport {
    pub demo_created: usize,
    pub load_created: usize,
    pub store: StoreSeedReport,
}

/// What seed-demo added to the membership store.
#[derive(Debug, Default)]
pub struct StoreSeedReport {
    pub products_created: usize,
    pub campaigns_created: usize,
    pub points_given: bool,
}

/// The demo shop (SPEC section 9): name, price, stock, description. Some have little stock
/// (1–5) to show first-come orders.
pub const DEMO_PRODUCTS: &[(&str, i64, i32, &str)] = &[
    ("데이터 쿠폰 1GB", 3_000, 500, "당월 데이터 1GB 추가"),
    ("데이터 쿠폰 5GB", 12_000, 300, "당월 데이터 5GB 추가"),
    ("로밍 1일권", 9_900, 200, "해외 로밍 데이터 1일 무제한"),
    ("무선 충전기", 25_000, 40, "15W 고속 무선 충전 패드"),
    ("보조배터리 10000mAh", 29_000, 30, "PD 고속 충전 지원"),
    ("블루투스 이어폰", 59_000, 20, "노이즈 캔슬링 무선 이어폰"),
    (
        "스마트워치 스트랩",
        15_000,
        5,
        "실리콘 교체용 스트랩 (한정)",
    ),
    ("텀블러", 18_000, 3, "멤버십 한정 보온 텀블러"),
    ("영화 예매권", 11_000, 2, "전국 극장 2D 일반관 1매"),
    ("프리미엄 케이스", 35_000, 1, "한정판 가죽 케이스"),
];

/// The points `user01` starts with.
pub const DEMO_POINTS: i64 = 50_000;

/// The store's demo data, each part created only when missing.
async fn seed_store(
    conn: &mut diesel_async::AsyncPgConnection,
    settings: &Settings,
) -> anyhow::Result<StoreSeedReport> {
    use crate::domain::identity::UserId;
    use crate::domain::store::points::Points;
    use crate::infra::store::{coupons, shop, wallets};
    let mut report = StoreSeedReport::default();
    for (name, price, stock, description) in DEMO_PRODUCTS {
        if shop::find_by_name(conn, name).await?.is_none() {
            shop::create(conn, name, Points::new(*price), *stock, description).await?;
            report.products_created += 1;
        }
    }
    report.campaigns_created = coupons::ensure_demo_campaigns(conn).await?;
    let user = UserId::parse("user01").map_err(|e| anyhow::anyhow!(e))?;
    // Given once: a wallet that ever moved is left as it is.
    if wallets::balance(conn, &user).await?.updated_at.is_none() {
        let max = Points::new(settings.store.balance_max);
        wallets::charge(conn, &user, Points::new(DEMO_POINTS), max, None).await?;
        report.points_given = true;
    }
    Ok(report)
}

pub async fn run(settings: &Settings, load_users: u32) -> anyhow::Result<SeedReport> {
    anyhow::ensure!(
        load_users <= MAX_LOAD_USERS,
        "--load-users must be at most {MAX_LOAD_USERS}"
    );
    let pool = db::pool(&settings.database);
    let mut conn = pool.get().await.map_err(StoreError::from)?;
    // One hash serves every seeded user: they share the demo password (each hash still has
    // its own salt across runs; seeding a million users must not take a million hashes).
    let hasher = PasswordHasher::new(&settings.auth)?;
    let hash = hasher.hash(DEMO_PASSWORD.to_string()).await?;

    let demo: Vec<NewUserRow> = DEMO_USERS
        .iter()
        .map(|(id, cust, name, line, perms)| NewUserRow {
            user_id: (*id).into(),
            customer_id: (*cust).into(),
            line_number: (*line).into(),
            user_name: (*name).into(),
            password_hash: hash.clone(),
            permissions: perms.iter().map(|p| (*p).to_string()).collect(),
        })
        .collect();
    let demo_created = users::insert_missing(&mut conn, &demo).await?;

    let mut load_created = 0;
    let mut next = 1;
    while next <= load_users {
        let last = (next + 999).min(load_users);
        let batch: Vec<NewUserRow> = (next..=last)
            .map(|n| {
                let (id, line) = load_user(n);
                NewUserRow {
                    customer_id: format!("LOAD{n:06}"),
                    user_name: format!("부하테스트{n}"),
                    user_id: id,
                    line_number: line,
                    password_hash: hash.clone(),
                    permissions: vec!["BILL_INQUIRY".into(), "PRODUCT_CHANGE".into()],
                }
            })
            .collect();
        load_created += users::insert_missing(&mut conn, &batch).await?;
        next = last + 1;
    }
    let store = seed_store(&mut conn, settings).await?;
    Ok(SeedReport {
        demo_created,
        load_created,
        store,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_users_map_onto_the_generated_range() {
        assert_eq!(load_user(1), ("load00001".into(), "01050000001".into()));
        assert_eq!(load_user(MAX_LOAD_USERS).1, "01050999999");
    }
}
