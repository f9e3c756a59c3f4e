//! Reply templates, rendered within the bounds of [`super::limits`]: a minimal
//! environment, no operators that grow text, bounded fuel and output. Validation and
//! every reply at run time go through [`render`].

use super::ReplyVars;
use super::limits::{MAX_RENDERED_BYTES, MAX_TEMPLATE_BYTES, TEMPLATE_FUEL};

/// Operators that grow a string or list (`*` repeats, `~` and `+` concatenate): with
/// them a short template can build gigabytes in a few instructions, which neither the
/// fuel nor the output bound would catch.
const GROWING_OPERATORS: &[char] = &['*', '~', '+'];

/// The template-language subset replies may use: variables, filters that do not grow
/// their input, conditions and loops. Refuses growing operators inside tags; the syntax
/// itself is checked by minijinja.
pub fn check_template_source(template: &str) -> Result<(), String> {
    let chars: Vec<char> = template.chars().collect();
    // Inside a tag: the character that closes it (`}` for `}}`, `%` for `%}`, `#` for
    // `#}`), and the quote of the string literal we are in, if any.
    let mut tag: Option<char> = None;
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let (c, next) = (chars[i], chars.get(i + 1).copied());
        match tag {
            None => {
                if c == '{'
                    && let Some(kind @ ('{' | '%' | '#')) = next
                {
                    tag = Some(if kind == '{' { '}' } else { kind });
                    i += 1;
                }
            }
            Some('#') => {
                if c == '#' && next == Some('}') {
                    tag = None;
                    i += 1;
                }
            }
            Some(closer) => match quote {
                Some(q) => {
                    if c == '\\' {
                        i += 1;
                    } else if c == q {
                        quote = None;
                    }
                }
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == closer && next == Some('}') => {
                    tag = None;
                    i += 1;
                }
                None if GROWING_OPERATORS.contains(&c) => {
                    return Err(format!(
                        "the operator `{c}` is not allowed in reply templates: they \
                         substitute variables, they do not build text"
                    ));
                }
                None => {}
            },
        }
        i += 1;
    }
    Ok(())
}

/// The template environment for replies: no globals (no `range`, no `namespace`), only
/// filters that do not grow their input, strict undefined variables, bounded fuel.
pub fn template_env() -> minijinja::Environment<'static> {
    use minijinja::{filters, tests};
    let mut env = minijinja::Environment::empty();
    env.add_filter("upper", filters::upper);
    env.add_filter("lower", filters::lower);
    env.add_filter("title", filters::title);
    env.add_filter("capitalize", filters::capitalize);
    env.add_filter("trim", filters::trim);
    env.add_filter("default", filters::default);
    env.add_filter("d", filters::default);
    env.add_filter("length", filters::length);
    env.add_test("defined", tests::is_defined);
    env.add_test("undefined", tests::is_undefined);
    env.add_test("none", tests::is_none);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env
}

/// Renders a reply template within the fuel and output bounds.
pub fn render(template: &str, vars: &ReplyVars) -> Result<String, RenderError> {
    if template.len() > MAX_TEMPLATE_BYTES {
        return Err(RenderError::TooLong);
    }
    check_template_source(template).map_err(RenderError::Refused)?;
    let env = template_env();
    let compiled = env
        .template_from_str(template)
        .map_err(RenderError::Template)?;
    let mut out = Bounded::default();
    match compiled.render_captured_to(vars, &mut out) {
        Ok(_) => Ok(String::from_utf8_lossy(&out.bytes).into_owned()),
        Err(_) if out.overflowed => Err(RenderError::TooLong),
        Err(error) if error.kind() == minijinja::ErrorKind::OutOfFuel => {
            Err(RenderError::OutOfFuel)
        }
        Err(error) => Err(RenderError::Template(error)),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("renders to more than {MAX_RENDERED_BYTES} bytes")]
    TooLong,
    #[error("runs more than {TEMPLATE_FUEL} template instructions")]
    OutOfFuel,
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Template(minijinja::Error),
}

/// A writer that refuses to hold more than [`MAX_RENDERED_BYTES`].
#[derive(Default)]
struct Bounded {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_RENDERED_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::other("reply too long"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_operators_are_found_outside_strings_only() {
        assert!(check_template_source("Hi {{ handle }}, 2 * 3 ~ 4 + 5").is_ok());
        assert!(check_template_source("{{ handle ~ '*' }}").is_err());
        assert!(check_template_source("{{ 'a*b~c+d' }} {# x * y #}").is_ok());
        assert!(check_template_source("{% set a = 'x' * 9 %}").is_err());
        assert!(check_template_source("{{ handle }} {{ \"\\\"*\" }}").is_ok());
        assert!(check_template_source("{{ [1] + [2] }}").is_err());
        assert!(check_template_source("unclosed {{ a * b").is_err());
        assert!(
            check_template_source("{{ \"}}\" ~ handle }}").is_err(),
            "closer in a string"
        );
        assert!(
            check_template_source("{% if a %}*{% endif %} x+y").is_ok(),
            "text is text"
        );
    }

    #[test]
    fn rendering_is_bounded_in_steps_and_output() {
        let vars = ReplyVars {
            handle: "@a".into(),
            ..ReplyVars::default()
        };
        assert_eq!(render("Hi {{ handle|upper }}", &vars).unwrap(), "Hi @A");
        let list = vec!["1"; 40].join(",");
        let loops = format!(
            "{{% for a in [{list}] %}}{{% for b in [{list}] %}}{{% for c in [{list}] %}}.{{% endfor %}}{{% endfor %}}{{% endfor %}}"
        );
        assert!(matches!(render(&loops, &vars), Err(RenderError::OutOfFuel)));
        let long = format!("{{% for a in [{list}] %}}{}{{% endfor %}}", "x".repeat(100));
        assert!(matches!(render(&long, &vars), Err(RenderError::TooLong)));
        assert!(render("{{ range(3) }}", &vars).is_err(), "no globals");
        assert!(
            render("{{ handle|indent(9) }}", &vars).is_err(),
            "no indent"
        );
    }
}
