//! Index generations: each full build writes a new directory beside the live one; a small pointer
//! file, replaced by rename, says which is live. Readers never see a half-built index, a crash
//! mid-build leaves the live one untouched, and the previous generation is kept for rollback.
//!
//! Layout under the root: `gen-000001/`, `gen-000002/`, ... and `LIVE` holding the live name. A
//! generation being built holds a `BUILDING` marker until it is complete.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::SearchError;

const LIVE: &str = "LIVE";
const BUILDING: &str = "BUILDING";

/// The generations under one root directory.
#[derive(Debug, Clone)]
pub struct Generations {
    root: PathBuf,
}

fn io(path: &Path, e: std::io::Error) -> SearchError {
    SearchError::Io(path.display().to_string(), e)
}

impl Generations {
    /// Opens (creating) the root.
    pub fn open(root: &Path) -> Result<Self, SearchError> {
        fs::create_dir_all(root).map_err(|e| io(root, e))?;
        Ok(Generations {
            root: root.to_path_buf(),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of generation `n`.
    pub fn path(&self, n: u64) -> PathBuf {
        self.root.join(format!("gen-{n:06}"))
    }

    /// The live generation, if any.
    pub fn live(&self) -> Result<Option<u64>, SearchError> {
        let p = self.root.join(LIVE);
        match fs::read_to_string(&p) {
            Ok(s) => Ok(s.trim().strip_prefix("gen-").and_then(|n| n.parse().ok())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&p, e)),
        }
    }

    /// Every generation directory present, complete or not, ascending.
    pub fn list(&self) -> Result<Vec<u64>, SearchError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(|e| io(&self.root, e))? {
            let entry = entry.map_err(|e| io(&self.root, e))?;
            if let Some(n) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.strip_prefix("gen-"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                out.push(n);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Whether generation `n` is complete (built and not marked as building).
    pub fn is_complete(&self, n: u64) -> bool {
        let p = self.path(n);
        p.is_dir() && !p.join(BUILDING).exists()
    }

    /// Creates the directory of a new generation, marked as building.
    pub fn begin(&self) -> Result<(u64, PathBuf), SearchError> {
        let next = self
            .list()?
            .last()
            .copied()
            .unwrap_or(0)
            .max(self.live()?.unwrap_or(0))
            + 1;
        let p = self.path(next);
        fs::create_dir_all(&p).map_err(|e| io(&p, e))?;
        fs::write(p.join(BUILDING), b"").map_err(|e| io(&p, e))?;
        Ok((next, p))
    }

    /// Marks generation `n` complete (it can then be promoted).
    pub fn complete(&self, n: u64) -> Result<(), SearchError> {
        let m = self.path(n).join(BUILDING);
        match fs::remove_file(&m) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&m, e)),
        }
    }

    /// Makes generation `n` live: writes the pointer to a temporary file, syncs it, and renames it
    /// over `LIVE`, so readers see the old or the new pointer, never a torn one.
    pub fn promote(&self, n: u64) -> Result<(), SearchError> {
        if !self.is_complete(n) {
            return Err(io(
                &self.path(n),
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "generation is not complete",
                ),
            ));
        }
        let tmp = self.root.join("LIVE.tmp");
        let mut f = fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(format!("gen-{n:06}\n").as_bytes())
            .map_err(|e| io(&tmp, e))?;
        f.sync_all().map_err(|e| io(&tmp, e))?;
        fs::rename(&tmp, self.root.join(LIVE)).map_err(|e| io(&tmp, e))?;
        if let Ok(dir) = fs::File::open(&self.root) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// The newest complete generation older than the live one.
    pub fn previous(&self) -> Result<Option<u64>, SearchError> {
        let live = self.live()?;
        Ok(self
            .list()?
            .into_iter()
            .rev()
            .find(|n| Some(*n) < live && self.is_complete(*n)))
    }

    /// Removes generations left half-built (a crash or a cancelled build) and returns them. The
    /// live generation is never touched.
    pub fn clean_incomplete(&self) -> Result<Vec<u64>, SearchError> {
        let live = self.live()?;
        let mut removed = Vec::new();
        for n in self.list()? {
            if Some(n) != live && !self.is_complete(n) {
                let p = self.path(n);
                fs::remove_dir_all(&p).map_err(|e| io(&p, e))?;
                removed.push(n);
            }
        }
        Ok(removed)
    }

    /// Removes the oldest complete generations beyond the live one and `keep - 1` previous ones.
    pub fn prune(&self, keep: usize) -> Result<Vec<u64>, SearchError> {
        let live = self.live()?;
        let complete: Vec<u64> = self
            .list()?
            .into_iter()
            .filter(|n| self.is_complete(*n) && Some(*n) <= live)
            .collect();
        let keep = keep.max(1);
        let mut removed = Vec::new();
        if complete.len() > keep {
            for n in &complete[..complete.len() - keep] {
                if Some(*n) != live {
                    let p = self.path(*n);
                    fs::remove_dir_all(&p).map_err(|e| io(&p, e))?;
                    removed.push(*n);
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let g = Generations::open(dir.path()).unwrap();
        assert_eq!(g.live().unwrap(), None);
        let (a, _) = g.begin().unwrap();
        assert!(
            g.promote(a).is_err(),
            "an incomplete generation cannot go live"
        );
        g.complete(a).unwrap();
        g.promote(a).unwrap();
        assert_eq!(g.live().unwrap(), Some(a));
        let (b, _) = g.begin().unwrap();
        // A crash here leaves b half-built: cleaning removes it and keeps a live.
        assert_eq!(g.clean_incomplete().unwrap(), vec![b]);
        assert_eq!(g.live().unwrap(), Some(a));
        let (c, _) = g.begin().unwrap();
        assert!(c > a);
        g.complete(c).unwrap();
        g.promote(c).unwrap();
        assert_eq!(g.previous().unwrap(), Some(a));
        let (d, _) = g.begin().unwrap();
        g.complete(d).unwrap();
        g.promote(d).unwrap();
        assert_eq!(g.prune(2).unwrap(), vec![a]);
        assert_eq!(g.list().unwrap(), vec![c, d]);
    }
}
