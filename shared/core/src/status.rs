//! Conversion statuses and the stage words networks use for them.

use serde::{Deserialize, Serialize};

/// Where a conversion stands. `Hold` is approved-but-not-yet-paid: it is *not* pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Hold,
    Approved,
    Rejected,
    Trash,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Hold,
        Status::Approved,
        Status::Rejected,
        Status::Trash,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Hold => "hold",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Trash => "trash",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// AlterCPA's stage vocabulary, used by the catalogue's per-network status maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Wait,
    Hold,
    Approve,
    Cancel,
    Trash,
}

impl Stage {
    pub fn parse(s: &str) -> Option<Stage> {
        Some(match s {
            "wait" => Stage::Wait,
            "hold" => Stage::Hold,
            "approve" => Stage::Approve,
            "cancel" => Stage::Cancel,
            "trash" => Stage::Trash,
            _ => return None,
        })
    }

    pub fn status(self) -> Status {
        match self {
            Stage::Wait => Status::Pending,
            Stage::Hold => Status::Hold,
            Stage::Approve => Status::Approved,
            Stage::Cancel => Status::Rejected,
            Stage::Trash => Status::Trash,
        }
    }
}
