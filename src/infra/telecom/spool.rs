//! The history spool: where the history writer keeps records, fsynced, while PostgreSQL
//! cannot take them, until they are replayed.
//!
//! Layout under `[actors.history] spool_dir` (shared by every instance started from one
//! folder):
//!
//! ```text
//! spool/instance-0.lock     held (flock) by the live instance using slot 0
//! spool/instance-0/         its files: history-current.jsonl (appended), history-<ns>.jsonl
//!                           (set aside for replay), rejected-<ns>.jsonl (refused, kept)
//! spool/instance-1.lock …
//! spool/history-*.jsonl     files of the layout before slots: adopted like orphans
//! ```
//!
//! Each instance claims the first slot whose lock it can take and holds it until it exits,
//! so two instances never append to, replay or remove each other's files. A slot whose lock
//! is free belongs to an instance that is gone: the next replay of any instance adopts its
//! pending files (moves them into its own slot, under that slot's lock) and replays them.
//! Lock files are never removed (removing one could let two instances hold "the" lock).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;

use super::bill_history::HistoryRecord;

/// Slots tried before start-up gives up (that many live instances in one folder).
const SLOTS_MAX: usize = 256;
const CURRENT: &str = "history-current.jsonl";

/// An instance's spool: its own slot, locked for as long as any clone lives.
#[derive(Debug, Clone)]
pub struct Spool {
    root: PathBuf,
    dir: PathBuf,
    /// The slot's lock (`None` for [`Spool::at`]): released when the last clone drops.
    lock: Option<Arc<File>>,
}

impl Spool {
    /// Claims the first free slot under `root` for this process (creating `root`).
    pub fn claim(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        for slot in 0..SLOTS_MAX {
            let Some(lock) = try_lock(&lock_path(&root, slot))? else {
                continue;
            };
            let dir = slot_dir(&root, slot);
            std::fs::create_dir_all(&dir)?;
            return Ok(Self {
                root,
                dir,
                lock: Some(Arc::new(lock)),
            });
        }
        Err(std::io::Error::other(format!(
            "all {SLOTS_MAX} spool slots are held by live instances"
        )))
    }

    /// A spool directory used as it is, unlocked (tools and tests that fill or read one).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            root: dir.clone(),
            dir,
            lock: None,
        }
    }

    /// This instance's own directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn current(&self) -> PathBuf {
        self.dir.join(CURRENT)
    }

    /// Appends records and syncs them to disk before returning. Blocking.
    pub fn append(&self, records: &[HistoryRecord]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.current())?;
        write_lines(file, records)
    }

    /// Keeps records PostgreSQL refused (so they no longer block the replay of what follows)
    /// in `rejected-<time>.jsonl`, synced, for an operator to look at. Blocking.
    pub fn quarantine(&self, records: &[HistoryRecord]) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(format!("rejected-{:020}.jsonl", stamp()));
        write_lines(File::create(&path)?, records)?;
        Ok(path)
    }

    /// Moves the current file aside (so appends go to a new one) and lists every file of
    /// this slot waiting for replay, oldest first (orphans were adopted by [`has_pending`],
    /// which the writer asks first). Blocking.
    ///
    /// [`has_pending`]: Spool::has_pending
    pub fn take_pending(&self) -> std::io::Result<Vec<PathBuf>> {
        let current = self.current();
        if current.exists() {
            std::fs::rename(&current, self.fresh_name())?;
        }
        let mut files = pending_in(&self.dir)?;
        files.retain(|p| !p.ends_with(CURRENT));
        files.sort();
        Ok(files)
    }

    /// Whether anything waits for replay: in this slot, or left by an instance that is gone
    /// (adopted on the way). Blocking (directory listings).
    pub fn has_pending(&self) -> bool {
        let _ = self.adopt_orphans();
        pending_in(&self.dir).is_ok_and(|f| !f.is_empty())
    }

    /// Moves the pending files of slots no live instance holds, and of the layout before
    /// slots, into this slot. Returns how many were moved. Blocking.
    pub fn adopt_orphans(&self) -> std::io::Result<usize> {
        if self.lock.is_none() {
            return Ok(0);
        }
        let mut moved = self.adopt_from(&self.root)?;
        // The slots that exist, from one listing of the root.
        for slot in slots_in(&self.root)? {
            let dir = slot_dir(&self.root, slot);
            if dir == self.dir {
                continue;
            }
            // Held: a live instance's. Free: taken for the move, released after it.
            if let Some(_held) = try_lock(&lock_path(&self.root, slot))? {
                moved += self.adopt_from(&dir)?;
            }
        }
        if moved > 0 {
            tracing::info!(
                files = moved,
                "adopted the history spool of an instance that is gone"
            );
        }
        Ok(moved)
    }

    fn adopt_from(&self, dir: &Path) -> std::io::Result<usize> {
        let mut moved = 0;
        for file in pending_in(dir)? {
            match std::fs::rename(&file, self.fresh_name()) {
                Ok(()) => moved += 1,
                // Another instance adopted it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(moved)
    }

    /// A name for a file set aside for replay, sorting after every earlier one.
    fn fresh_name(&self) -> PathBuf {
        loop {
            let path = self.dir.join(format!("history-{:020}.jsonl", stamp()));
            if !path.exists() {
                return path;
            }
        }
    }

    /// Reads one spool file; lines that do not parse (a torn last write) are skipped.
    pub fn read(path: &Path) -> std::io::Result<Vec<HistoryRecord>> {
        let file = File::open(path)?;
        Ok(std::io::BufReader::new(file)
            .split(b'\n')
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_slice(&l).ok())
            .collect())
    }
}

fn lock_path(root: &Path, slot: usize) -> PathBuf {
    root.join(format!("instance-{slot}.lock"))
}

fn slot_dir(root: &Path, slot: usize) -> PathBuf {
    root.join(format!("instance-{slot}"))
}

/// The slot numbers whose lock files exist under `root`.
fn slots_in(root: &Path) -> std::io::Result<Vec<usize>> {
    Ok(std::fs::read_dir(root)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let n = name
                .to_str()?
                .strip_prefix("instance-")?
                .strip_suffix(".lock")?;
            n.parse().ok()
        })
        .collect())
}

/// The lock at `path`, if no one else holds it (created when missing).
fn try_lock(path: &Path) -> std::io::Result<Option<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// The `history-*.jsonl` files directly in `dir` (none when it does not exist).
fn pending_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("history-") && n.ends_with(".jsonl"))
            })
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn stamp() -> i64 {
    Utc::now().timestamp_nanos_opt().unwrap_or_default()
}

/// Writes records as JSON lines in one write, then syncs them to disk. Blocking.
fn write_lines(mut file: File, records: &[HistoryRecord]) -> std::io::Result<()> {
    let mut buf = Vec::new();
    for r in records {
        serde_json::to_writer(&mut buf, r)?;
        buf.push(b'\n');
    }
    file.write_all(&buf)?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pbspool-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn two_instances_claim_two_slots_and_a_freed_slot_is_reused() {
        let root = temp_root();
        let a = Spool::claim(&root).unwrap();
        let b = Spool::claim(&root).unwrap();
        assert_ne!(a.dir(), b.dir());
        let a_dir = a.dir().to_path_buf();
        drop(a);
        let c = Spool::claim(&root).unwrap();
        assert_eq!(
            c.dir(),
            a_dir,
            "the slot of an instance that is gone is free again"
        );
        drop((b, c));
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn files_of_a_live_instance_are_left_alone_and_a_dead_ones_adopted() {
        let root = temp_root();
        let live = Spool::claim(&root).unwrap();
        let other = Spool::claim(&root).unwrap();
        std::fs::write(live.dir().join(CURRENT), b"").unwrap();
        assert_eq!(other.adopt_orphans().unwrap(), 0, "live: not touched");
        assert!(live.dir().join(CURRENT).exists());
        // The layout before slots, and a slot whose instance is gone.
        std::fs::write(root.join("history-00000000000000000001.jsonl"), b"").unwrap();
        let live_dir = live.dir().to_path_buf();
        drop(live);
        assert_eq!(other.adopt_orphans().unwrap(), 2);
        assert!(pending_in(&live_dir).unwrap().is_empty());
        assert!(pending_in(&root).unwrap().is_empty());
        assert_eq!(other.take_pending().unwrap().len(), 2);
        drop(other);
        std::fs::remove_dir_all(root).unwrap();
    }
}
