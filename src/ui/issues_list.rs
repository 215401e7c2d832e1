//! "Issues with your data": one line per problem, so a user sees what was skipped and why while
//! everything else stays loaded.

use yew::{Html, Properties, function_component, html};

use crate::data::IssueLine;

/// Props of [`IssuesList`].
#[derive(Properties, PartialEq)]
pub struct IssuesListProps {
    /// The lines, in the order found.
    pub issues: Vec<IssueLine>,
}

/// The list; each line has the class `data-issue` and, when it is about one file, that file's
/// path in `data-path` (the end-to-end tests read it).
#[function_component(IssuesList)]
pub fn issues_list(props: &IssuesListProps) -> Html {
    if props.issues.is_empty() {
        return html! {
            <p id="data-issues-none" class="ok">{ "No issues with your data." }</p>
        };
    }
    html! {
        <section id="data-issues" aria-labelledby="data-issues-title">
            <h3 id="data-issues-title">{ format!("Issues with your data ({})", props.issues.len()) }</h3>
            <ul>
                { for props.issues.iter().map(|issue| html! {
                    <li class="data-issue" data-path={issue.path.clone()}>{ &issue.text }</li>
                }) }
            </ul>
        </section>
    }
}
