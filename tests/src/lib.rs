//! No code of its own: this crate only holds workspace-wide tests (see `tests/`), such as
//! `tests/template.rs`, which checks `template.yaml` against `affnet_app::routes::ROUTES`, the
//! function crates and the table shape of `affnet_store::port`.
