//! What a server offers — tools, resources, resource templates, prompts —
//! kept by every [`ServerSession`](crate::ServerSession) and, to seed the
//! sessions it opens, by the Streamable HTTP transport.

use crate::schema::{Prompt, Resource, ResourceTemplate, Tool};

/// The registered items, each list in registration order, each key
/// (tool and prompt name, resource URI, URI template) at most once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Catalogue {
    pub(crate) tools: Vec<Tool>,
    pub(crate) resources: Vec<Resource>,
    pub(crate) templates: Vec<ResourceTemplate>,
    pub(crate) prompts: Vec<Prompt>,
}

impl Catalogue {
    /// Adds or replaces the tool of that name.
    pub(crate) fn add_tool(&mut self, tool: Tool) {
        upsert(&mut self.tools, tool, |a, b| a.name == b.name);
    }

    /// Whether a tool of that name was there.
    pub(crate) fn remove_tool(&mut self, name: &str) -> bool {
        remove(&mut self.tools, |t| t.name == name)
    }

    /// Adds or replaces the resource with that URI.
    pub(crate) fn add_resource(&mut self, resource: Resource) {
        upsert(&mut self.resources, resource, |a, b| a.uri == b.uri);
    }

    /// Whether a resource with that URI was there.
    pub(crate) fn remove_resource(&mut self, uri: &str) -> bool {
        remove(&mut self.resources, |r| r.uri == uri)
    }

    /// Adds or replaces the template with that URI template.
    pub(crate) fn add_template(&mut self, template: ResourceTemplate) {
        upsert(&mut self.templates, template, |a, b| {
            a.uri_template == b.uri_template
        });
    }

    /// Adds or replaces the prompt of that name.
    pub(crate) fn add_prompt(&mut self, prompt: Prompt) {
        upsert(&mut self.prompts, prompt, |a, b| a.name == b.name);
    }

    /// Whether a prompt of that name was there.
    pub(crate) fn remove_prompt(&mut self, name: &str) -> bool {
        remove(&mut self.prompts, |p| p.name == name)
    }
}

fn upsert<T>(list: &mut Vec<T>, item: T, same: impl Fn(&T, &T) -> bool) {
    match list.iter_mut().find(|x| same(x, &item)) {
        Some(x) => *x = item,
        None => list.push(item),
    }
}

fn remove<T>(list: &mut Vec<T>, matches: impl Fn(&T) -> bool) -> bool {
    let before = list.len();
    list.retain(|x| !matches(x));
    list.len() != before
}
