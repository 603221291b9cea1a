//! Tests of model routing: feature keys and fallbacks, and `Router::route` over fake local models, admin routes and remote endpoints.

use std::sync::Arc;

use super::*;
use crate::engine::fake::Fake;

#[test]
fn feature_keys_are_gitlabs_and_match_the_stored_names() {
    for f in Feature::ALL {
        assert_eq!(serde_json::to_value(f).unwrap(), serde_json::Value::String(f.as_str().into()));
    }
    let keys: std::collections::BTreeSet<_> = Feature::ALL.iter().map(|f| f.as_str()).collect();
    assert_eq!(keys.len(), 19);
    assert!(keys.contains("duo_chat_troubleshoot_job") && keys.contains("duo_agent_platform_agentic_chat"));
    // GitLab's feature setting of the code-embeddings unit primitive.
    assert!(keys.contains("embeddings_code"));
}

#[test]
fn unit_primitives_pick_their_feature_and_chat_tools_run_as_general_chat() {
    for (up, f) in [
        ("complete_code", Feature::CodeCompletions),
        ("explain_code", Feature::DuoChatExplainCode),
        ("fix_code", Feature::DuoChatFixCode),
        ("summarize_review", Feature::SummarizeReview),
        ("review_merge_request", Feature::ReviewMergeRequest),
        ("ask_issue", Feature::DuoChat),
        ("documentation_search", Feature::DuoChat),
        ("generate_issue_description", Feature::DuoChat),
        ("generate_embeddings_codebase", Feature::EmbeddingsCode),
    ] {
        assert_eq!(Feature::for_unit_primitive(up), f, "{up}");
    }
}

#[test]
fn chat_sub_features_fall_back_to_general_chat() {
    assert_eq!(Feature::DuoChatWriteTests.fallback(), Some(Feature::DuoChat));
    assert_eq!(Feature::GenerateCommitMessage.fallback(), None);
    assert_eq!(Feature::DuoChat.fallback(), None);
}

/// airgate's models ("default" first, so the default; "coder" and "chat" ready; one loading, one failed),
/// the admin's routes and endpoints, and airgate's own address (port 8080, host `airgate.example`).
struct World {
    models: ModelRegistry,
    remote: RemoteClient,
    routes: FeatureRoutes,
    endpoints: Vec<EndpointRecord>,
    hosts: Vec<String>,
}

impl World {
    fn new() -> World {
        let models = ModelRegistry::default();
        for name in ["default", "coder", "chat"] {
            models.add_loading(name, &format!("/models/{name}.gguf"));
            models.set_loaded(name, Arc::new(Fake::named(name, 4096)));
        }
        models.add_loading("warming", "/models/warming.gguf");
        models.add_loading("broken", "/models/broken.gguf");
        models.set_failed("broken", "not a GGUF file".into());
        let vllm = EndpointRecord {
            name: "vllm".into(),
            url: "http://vllm:8000/v1/".into(),
            model: "Codestral-22B".into(),
            family: Some("codestral".into()),
            api_key: Some("sk-test".into()),
            api_key_ref: None,
            created_at: 0,
        };
        let odd = EndpointRecord { name: "odd".into(), family: Some("nonesuch".into()), ..vllm.clone() };
        World {
            models,
            remote: RemoteClient::new().unwrap(),
            routes: FeatureRoutes::new(),
            endpoints: vec![vllm, odd],
            hosts: vec!["airgate.example".into()],
        }
    }

    fn with(mut self, feature: Feature, target: RouteTarget) -> World {
        self.routes.insert(feature, target);
        self
    }

    fn router(&self) -> Router<'_> {
        Router {
            models: &self.models,
            remote: &self.remote,
            routes: &self.routes,
            endpoints: &self.endpoints,
            own_port: 8080,
            own_hosts: &self.hosts,
        }
    }

    /// (model name, in-process, family) of the route.
    fn route(&self, req: &ModelRequest, feature: Feature) -> (String, bool, Family) {
        match self.router().route(req, feature) {
            Ok(r) => (r.engine.info().name.clone(), r.local, r.family),
            Err(e) => panic!("{feature:?} {req:?}: {e}"),
        }
    }

    fn refused(&self, req: &ModelRequest, feature: Feature) -> FeatureError {
        match self.router().route(req, feature) {
            Ok(r) => panic!("{feature:?} {req:?} routed to {}", r.engine.info().name),
            Err(e) => e,
        }
    }
}

fn local(name: &str) -> RouteTarget {
    RouteTarget::Local { model: name.into() }
}

fn family(name: &str) -> ModelRequest {
    ModelRequest { name: Some(name.into()), ..ModelRequest::default() }
}

/// What GitLab sends for a self-hosted model: family, endpoint and identifier.
fn named(endpoint: &str, identifier: &str) -> ModelRequest {
    ModelRequest {
        provider: Some("openai".into()),
        name: Some("mistral".into()),
        endpoint: Some(endpoint.into()),
        api_key: Some("sk-gitlab".into()),
        identifier: Some(identifier.into()),
        registered_only: false,
    }
}

#[test]
fn a_request_naming_no_model_gets_the_default_model() {
    let world = World::new();
    let none = ModelRequest::default();
    assert_eq!(world.route(&none, Feature::CodeCompletions), ("default".into(), true, Family::General));
    // A family alone picks the prompt layout, not the model; blank fields name nothing either.
    assert_eq!(
        world.route(&family("codestral"), Feature::CodeGenerations),
        ("default".into(), true, Family::Codestral)
    );
    let blank = ModelRequest { endpoint: Some(" ".into()), identifier: Some(String::new()), ..family(" ") };
    assert_eq!(world.route(&blank, Feature::DuoChat), ("default".into(), true, Family::General));
    let route = world.router().route(&none, Feature::CodeCompletions).ok().unwrap();
    assert_eq!(route.provider, "litellm");
    let openai = ModelRequest { provider: Some("openai".into()), ..none };
    assert_eq!(world.router().route(&openai, Feature::DuoChat).ok().unwrap().provider, "openai");

    let empty = World { models: ModelRegistry::default(), ..World::new() };
    assert!(matches!(empty.refused(&ModelRequest::default(), Feature::DuoChat), FeatureError::NoModel(_)));
    let unknown = world.refused(&family("gpt5-turbo"), Feature::CodeCompletions);
    assert!(matches!(&unknown, FeatureError::Unprocessable(m) if m.contains("gpt5-turbo")), "{unknown}");
}

#[test]
fn a_feature_mapped_to_a_model_uses_it_and_other_features_keep_the_default() {
    let world = World::new().with(Feature::CodeCompletions, local("coder"));
    assert_eq!(world.route(&family("codegemma"), Feature::CodeCompletions), ("coder".into(), true, Family::Codegemma));
    assert_eq!(world.route(&ModelRequest::default(), Feature::CodeGenerations).0, "default");
    // A mapped model that is loading, failed or gone.
    let world = World::new()
        .with(Feature::CodeCompletions, local("warming"))
        .with(Feature::CodeGenerations, local("broken"))
        .with(Feature::DuoChat, local("deleted"));
    let none = ModelRequest::default();
    assert!(matches!(world.refused(&none, Feature::CodeCompletions), FeatureError::Loading(m) if m == "warming"));
    let broken = world.refused(&none, Feature::CodeGenerations);
    assert!(matches!(&broken, FeatureError::NoModel(m) if m.contains("not a GGUF file")), "{broken}");
    assert!(matches!(world.refused(&none, Feature::DuoChat), FeatureError::Unprocessable(_)));
}

#[test]
fn chat_sub_features_use_general_chats_route_unless_they_have_their_own() {
    let world = World::new().with(Feature::DuoChat, local("chat"));
    let none = ModelRequest::default();
    assert_eq!(world.route(&none, Feature::DuoChatExplainCode).0, "chat");
    assert_eq!(world.route(&none, Feature::DuoChatTroubleshootJob).0, "chat");
    assert_eq!(world.route(&none, Feature::GenerateCommitMessage).0, "default", "no parent: the default model");
    let world = world.with(Feature::DuoChatWriteTests, local("coder"));
    assert_eq!(world.route(&none, Feature::DuoChatWriteTests).0, "coder", "its own route wins");
    let world = World::new().with(Feature::DuoChat, RouteTarget::Disabled);
    let e = world.refused(&none, Feature::DuoChatRefactorCode);
    assert!(matches!(e, FeatureError::Disabled("duo_chat_refactor_code")), "{e}");
}

#[test]
fn a_disabled_feature_is_refused() {
    let world = World::new().with(Feature::CodeGenerations, RouteTarget::Disabled);
    let e = world.refused(&family("codestral"), Feature::CodeGenerations);
    assert!(matches!(e, FeatureError::Disabled("code_generations")), "{e}");
    assert_eq!(world.route(&ModelRequest::default(), Feature::CodeCompletions).0, "default");
}

#[test]
fn a_remote_route_calls_the_admins_endpoint() {
    let world = World::new()
        .with(Feature::CodeCompletions, RouteTarget::Remote { endpoint: "vllm".into() })
        .with(Feature::CodeGenerations, RouteTarget::Remote { endpoint: "gone".into() })
        .with(Feature::DuoChat, RouteTarget::Remote { endpoint: "odd".into() });
    let route = world.router().route(&ModelRequest::default(), Feature::CodeCompletions).ok().unwrap();
    let info = route.engine.info();
    assert_eq!(
        (info.name.as_str(), info.architecture.as_str(), info.path.as_str()),
        ("vllm", "remote", "http://vllm:8000/v1")
    );
    assert_eq!((route.local, route.family), (false, Family::Codestral), "the endpoint's family");
    assert_eq!(info.context_per_slot as usize, Family::Codestral.max_context_tokens());
    // The request's own family wins over the endpoint's.
    assert_eq!(world.route(&family("mistral"), Feature::CodeCompletions), ("vllm".into(), false, Family::Mistral));
    let gone = world.refused(&ModelRequest::default(), Feature::CodeGenerations);
    assert!(matches!(&gone, FeatureError::NoModel(m) if m.contains("`gone`")), "{gone}");
    assert!(matches!(world.refused(&ModelRequest::default(), Feature::DuoChat), FeatureError::Unprocessable(_)));
}

#[test]
fn a_request_naming_a_model_is_served_in_process_or_by_its_endpoint() {
    let world = World::new().with(Feature::CodeCompletions, RouteTarget::Disabled);
    // The identifier names a model airgate has: in-process, whatever the endpoint says.
    let ours = named("http://vllm:8000/v1", "custom_openai/coder");
    assert_eq!(world.route(&ours, Feature::DuoChat), ("coder".into(), true, Family::Mistral));
    let bare = ModelRequest { endpoint: None, ..named("", "chat") };
    assert_eq!(world.route(&bare, Feature::DuoChat).0, "chat");
    // Anything else goes to the endpoint as an OpenAI-compatible upstream; the admin's routes are not consulted.
    let theirs = named("http://vllm:8000/v1/", "custom_openai/Mistral-7B");
    let route = world.router().route(&theirs, Feature::CodeCompletions).ok().unwrap();
    let info = route.engine.info();
    assert_eq!((info.name.as_str(), info.path.as_str(), route.local), ("Mistral-7B", "http://vllm:8000/v1", false));
    assert_eq!((route.family, route.provider.as_str()), (Family::Mistral, "openai"));
    let no_identifier = ModelRequest { identifier: None, ..theirs };
    assert_eq!(world.route(&no_identifier, Feature::DuoChat), ("mistral".into(), false, Family::Mistral));
    // A model airgate does not have and no endpoint to ask.
    let nowhere = ModelRequest { endpoint: None, ..named("", "custom_openai/Other") };
    assert!(matches!(world.refused(&nowhere, Feature::DuoChat), FeatureError::Unprocessable(m) if m.contains("Other")));
}

#[test]
fn an_endpoint_that_is_airgate_itself_is_served_in_process() {
    let world = World::new().with(Feature::DuoChat, local("chat"));
    for url in [
        "http://127.0.0.1:8080/v1",
        "http://localhost:8080/v1/",
        "http://[::1]:8080/v1",
        "https://AIRGATE.example:8080/v1",
        "http://0.0.0.0:8080",
    ] {
        assert!(world.router().is_self(url), "{url}");
        // Naming a model airgate lacks: the feature's model serves, in-process, with the request's family.
        let req = named(url, "custom_openai/Mistral-7B");
        assert_eq!(world.route(&req, Feature::DuoChatExplainCode), ("chat".into(), true, Family::Mistral), "{url}");
    }
    for url in ["http://127.0.0.1:9999/v1", "http://other.example:8080/v1", "http://localhost/v1", "not a url"] {
        assert!(!world.router().is_self(url), "{url}");
    }
    let elsewhere = named("http://localhost:9999/v1", "custom_openai/Mistral-7B");
    assert!(!world.router().route(&elsewhere, Feature::DuoChat).ok().unwrap().local);
}

#[test]
fn a_non_http_endpoint_is_bad_input() {
    let world = World::new();
    for url in ["ftp://vllm:8000/v1", "vllm:8000/v1", "file:///etc/passwd", "//vllm/v1"] {
        let e = world.refused(&named(url, "custom_openai/Mistral-7B"), Feature::CodeCompletions);
        assert!(matches!(&e, FeatureError::BadInput(m) if m.contains(url) && m.contains("http(s)")), "{url}: {e}");
    }
}

#[test]
fn an_unauthenticated_caller_may_name_only_registered_endpoints() {
    let world = World::new();
    let anonymous =
        |endpoint: &str| ModelRequest { registered_only: true, ..named(endpoint, "custom_openai/Codestral-22B") };
    let e = world.refused(&anonymous("http://10.0.0.9:6379/v1"), Feature::CodeGenerations);
    assert!(matches!(e, FeatureError::Refused(_)), "{e:?}");
    // The registered one (trailing slash or not) is served with the admin's settings; airgate itself too.
    assert!(!world.route(&anonymous("http://vllm:8000/v1"), Feature::CodeGenerations).1);
    assert!(world.route(&anonymous("http://airgate.example:8080/v1"), Feature::CodeGenerations).1);
    // An authenticated caller is not limited.
    assert!(!world.route(&named("http://10.0.0.9:6379/v1", "custom_openai/x"), Feature::CodeGenerations).1);
}
