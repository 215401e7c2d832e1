//! The page: thin yew components that show the worker's state and send it requests.

pub mod app;
pub mod backend_badge;
pub mod smoke_panel;
pub mod state;
