//! The Kubernetes manifests, checked offline (no cluster, no kind): every overlay
//! renders with kustomize (`kubectl kustomize`), passes strict schema validation
//! (`kubernetes-validate --strict`), and sets every environment variable the binary
//! reads, or k8s/README.md lists it as optional. The reply path is checked for what a
//! real reply needs: every connector's token by reference, and in a brand's overlay the
//! playbook and the notifier, with a playbook the binary accepts.
//!
//! `scripts/test-all` installs kubernetes-validate (pip) when it is missing; kubectl
//! must be on the machine. Without them this test fails, naming what is missing: a
//! manifest check that silently passes would be worse than none.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

const KUBE_VERSION: &str = "1.30.0";

/// The tokens a reply needs, one per platform connector.
const CONNECTOR_TOKENS: &[&str] = &[
    "FIREBREAK_TELEGRAM_BOT_TOKEN",
    "FIREBREAK_META_PAGE_TOKEN",
    "FIREBREAK_WHATSAPP_TOKEN",
    "FIREBREAK_WHATSAPP_PHONE_NUMBER_ID",
    "FIREBREAK_X_BEARER_TOKEN",
    "FIREBREAK_LINE_CHANNEL_TOKEN",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn tool(name: &str) -> PathBuf {
    on_path(name).unwrap_or_else(|| {
        panic!(
            "`{name}` is needed for the offline k8s check and is not on PATH: \
             run scripts/test-all (it installs kubernetes-validate with pip), or install \
             kubectl (kustomize is built in)"
        )
    })
}

/// (option, variable) pairs from `firebreak run --help`: an option's line is indented
/// less than its description, and its `[env: NAME]` follows it (maybe wrapped).
fn options() -> Vec<(String, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let mut pairs = Vec::new();
    let mut option = String::new();
    let mut after_env = false;
    for line in help.lines() {
        let indent = line.len() - line.trim_start().len();
        if indent < 8 && line.trim_start().starts_with('-') {
            let flag = line.split_whitespace().find(|w| w.starts_with("--"));
            option = flag
                .unwrap_or("")
                .trim_start_matches("--")
                .trim_end_matches(',')
                .to_string();
        }
        for word in line.split_whitespace() {
            if after_env {
                let var = word.split(['=', ']']).next().unwrap_or("").to_string();
                pairs.push((option.clone(), var));
            }
            after_env = word == "[env:";
        }
    }
    pairs
}

fn render(overlay: &Path) -> (String, Vec<Yaml>) {
    let out = Command::new(tool("kubectl"))
        .arg("kustomize")
        .arg(overlay)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kustomize {}: {}",
        overlay.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let docs = YamlLoader::load_from_str(&text).expect("rendered YAML parses");
    (text, docs)
}

fn validate_strictly(name: &str, rendered: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.yaml"));
    std::fs::write(&file, rendered).unwrap();
    // The console script, or the module when pip's script directory is not on PATH.
    let mut validate = if on_path("kubernetes-validate").is_some() {
        Command::new("kubernetes-validate")
    } else {
        let mut python = Command::new(on_path("python3").unwrap_or_else(|| tool("python3")));
        python.args(["-m", "kubernetes_validate"]);
        python
    };
    let out = validate
        .args(["--strict", "--quiet", "-k", KUBE_VERSION])
        .arg(&file)
        .output()
        .unwrap();
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("No module named") {
        panic!(
            "kubernetes-validate is needed for the offline k8s check: `pip install \
             kubernetes-validate` (scripts/test-all does)"
        );
    }
    assert!(
        out.status.success(),
        "{name} fails strict validation:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn str_of(y: &Yaml) -> &str {
    y.as_str().unwrap_or("")
}

fn list(y: &Yaml) -> &[Yaml] {
    y.as_vec().map(Vec::as_slice).unwrap_or(&[])
}

/// What one Firebreak Deployment sets: env names, with how (`value`, `secretKeyRef`,
/// `envFrom`, `args`).
struct Deployment {
    component: String,
    set: Vec<(String, &'static str)>,
    container: Yaml,
}

fn deployments(docs: &[Yaml], options: &[(String, String)]) -> Vec<Deployment> {
    let config_map = |name: &str| -> Vec<String> {
        docs.iter()
            .filter(|d| str_of(&d["kind"]) == "ConfigMap" && str_of(&d["metadata"]["name"]) == name)
            .flat_map(|d| d["data"].as_hash().into_iter().flatten())
            .map(|(k, _)| str_of(k).to_string())
            .collect()
    };
    docs.iter()
        .filter(|d| str_of(&d["kind"]) == "Deployment")
        .filter(|d| str_of(&d["metadata"]["labels"]["app.kubernetes.io/name"]) == "firebreak")
        .map(|d| {
            let container = d["spec"]["template"]["spec"]["containers"][0].clone();
            let mut set = Vec::new();
            for env in list(&container["env"]) {
                let how = if env["valueFrom"]["secretKeyRef"].is_badvalue() {
                    "value"
                } else {
                    "secretKeyRef"
                };
                set.push((str_of(&env["name"]).to_string(), how));
            }
            for from in list(&container["envFrom"]) {
                for key in config_map(str_of(&from["configMapRef"]["name"])) {
                    set.push((key, "envFrom"));
                }
            }
            for arg in list(&container["args"]) {
                if let Some(flag) = str_of(arg).strip_prefix("--")
                    && let Some((_, var)) = options.iter().find(|(o, _)| o == flag)
                {
                    set.push((var.clone(), "args"));
                }
            }
            Deployment {
                component: str_of(&d["metadata"]["labels"]["app.kubernetes.io/component"])
                    .to_string(),
                set,
                container,
            }
        })
        .collect()
}

/// Variables k8s/README.md's "Environment" table calls optional.
fn documented_optional() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(repo().join("k8s/README.md")).unwrap();
    let section = readme
        .split("\n## Environment\n")
        .nth(1)
        .expect("k8s/README.md has an Environment section");
    let section = section.split("\n## ").next().unwrap();
    let mut optional = BTreeSet::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let mut cells = row.split('|').skip(1);
        let (vars, why) = (cells.next().unwrap_or(""), cells.next().unwrap_or(""));
        if why.trim_start().starts_with("optional") {
            for var in vars
                .split('`')
                .filter(|v| v.chars().all(|c| c.is_ascii_uppercase() || c == '_') && !v.is_empty())
            {
                optional.insert(var.to_string());
            }
        }
    }
    optional
}

#[test]
fn every_overlay_renders_validates_and_sets_what_the_binary_reads() {
    let options = options();
    assert!(
        options.len() > 40,
        "read the options from --help: {options:?}"
    );
    let mut read: BTreeSet<String> = options.iter().map(|(_, v)| v.clone()).collect();
    read.insert("RUST_LOG".into());
    let optional = documented_optional();
    let stale: Vec<&String> = optional.iter().filter(|v| !read.contains(*v)).collect();
    assert!(
        stale.is_empty(),
        "k8s/README.md documents {stale:?}, which the binary does not read"
    );
    let overlays = std::fs::read_dir(repo().join("k8s/overlays")).unwrap();
    let mut checked = 0;
    for overlay in overlays.map(|e| e.unwrap().path()).filter(|p| p.is_dir()) {
        let name = overlay.file_name().unwrap().to_string_lossy().into_owned();
        let (rendered, docs) = render(&overlay);
        validate_strictly(&name, &rendered);
        let deployments = deployments(&docs, &options);
        assert_eq!(deployments.len(), 5, "{name}: one Deployment per role");
        let set: BTreeSet<&str> = deployments
            .iter()
            .flat_map(|d| d.set.iter().map(|(v, _)| v.as_str()))
            .collect();
        for var in &read {
            assert!(
                set.contains(var.as_str()) || optional.contains(var),
                "{name}: the binary reads {var}, which no Deployment sets and k8s/README.md \
                 does not list as optional"
            );
        }
        for var in set.iter().filter(|v| v.starts_with("FIREBREAK_")) {
            assert!(
                read.contains(*var),
                "{name}: {var} is set but the binary reads no such variable"
            );
        }
        // Real replies: every connector's token reaches reply (and escalation, which
        // sends moderators' replies) by reference to a Secret, never as a literal.
        for component in ["reply", "escalation"] {
            let d = deployments
                .iter()
                .find(|d| d.component == component)
                .unwrap();
            for token in CONNECTOR_TOKENS {
                assert!(
                    d.set.contains(&(token.to_string(), "secretKeyRef")),
                    "{name}: {component} does not take {token} from a Secret"
                );
            }
        }
        if name == "example-brand" {
            for var in ["FIREBREAK_PLAYBOOK", "FIREBREAK_NOTIFY_WEBHOOK_URL"] {
                assert!(set.contains(var), "{name}: a brand's overlay sets {var}");
            }
            for d in &deployments {
                let mounted = list(&d.container["volumeMounts"])
                    .iter()
                    .any(|m| str_of(&m["mountPath"]) == "/etc/firebreak-playbook");
                assert!(mounted, "{name}: {} mounts the playbook", d.component);
            }
            let check = Command::new(env!("CARGO_BIN_EXE_firebreak"))
                .args(["playbook", "check"])
                .arg(overlay.join("playbook.yaml"))
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{name}/playbook.yaml: {}{}",
                String::from_utf8_lossy(&check.stdout),
                String::from_utf8_lossy(&check.stderr)
            );
        }
        checked += 1;
    }
    assert!(checked >= 4, "every overlay, including example-brand");
}
