//! The page: thin yew components that show the worker's state and send it requests.

pub mod app;
pub mod augment_panel;
pub mod backend_badge;
pub mod checkpoint_banner;
pub mod classify_panel;
pub mod comparison_panel;
pub mod data_panel;
pub mod data_url;
pub mod evaluation_panel;
pub mod frequency_chart;
pub mod issues_list;
pub mod label_options;
pub mod line_chart;
pub mod number_input;
pub mod smoke_panel;
pub mod split_table;
pub mod state;
pub mod train_panel;
