//! Request parameter validation, with the texts of PVE's `PVE::JSONSchema`.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::{Map, Value};

use super::formats;
use super::schema::{Operation, truthy};

/// Per-parameter error messages, as in PVE's `errors` object.
pub(crate) type ParamErrors = BTreeMap<String, String>;

/// Validates a request's parameters (path, query and body merged) against its operation.
pub(crate) fn validate(
    op: &Operation,
    params: &BTreeMap<String, String>,
) -> Result<(), ParamErrors> {
    let mut errors = ParamErrors::new();
    check_object(&op.properties, op.additional, params, "", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Checks an object against property schemas; `prefix` is prepended to error keys.
fn check_object(
    props: &Map<String, Value>,
    additional: bool,
    values: &BTreeMap<String, String>,
    prefix: &str,
    errors: &mut ParamErrors,
) {
    for (name, schema) in props {
        if name.ends_with("[n]") {
            continue;
        }
        if !values.contains_key(name) && !is_optional(schema) {
            errors.insert(
                format!("{prefix}{name}"),
                "property is missing and it is not optional".to_string(),
            );
        }
    }
    for (name, value) in values {
        let path = format!("{prefix}{name}");
        match property_schema(props, name) {
            Some(schema) => {
                if let Err(msg) = check_prop(value, schema, &path) {
                    errors.insert(path, msg);
                }
            }
            None if additional => {}
            None => {
                errors.insert(
                    path,
                    "property is not defined in schema and the schema does not allow additional properties"
                        .to_string(),
                );
            }
        }
    }
}

fn is_optional(schema: &Value) -> bool {
    schema.get("optional").is_some_and(truthy) || schema.get("alias").is_some()
}

/// The schema of a parameter: by name, or `net[n]` for `net0` (index up to `n_max`).
fn property_schema<'a>(props: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(s) = props.get(name) {
        return Some(s);
    }
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits == name.len() {
        return None;
    }
    let (base, idx) = name.split_at(name.len() - digits);
    if idx.len() > 1 && idx.starts_with('0') {
        return None;
    }
    let schema = props.get(&format!("{base}[n]"))?;
    let n: u64 = idx.parse().ok()?;
    let max = schema.get("n_max").and_then(Value::as_u64).unwrap_or(0);
    (n <= max).then_some(schema)
}

fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Perl's `is_integer`.
pub(crate) fn is_integer(v: &str) -> bool {
    let d = v.strip_prefix(['+', '-']).unwrap_or(v);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

/// Perl's `is_number`: `^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$`.
pub(crate) fn is_number(v: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(v))
}

/// PVE's `check_prop` on a defined scalar value.
fn check_prop(value: &str, schema: &Value, path: &str) -> Result<(), String> {
    let ty = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string");
    let type_ok = match ty {
        "boolean" => value == "1" || value == "0",
        "integer" => is_integer(value),
        "number" => is_number(value),
        "object" | "array" => false,
        _ => true,
    };
    if !type_ok {
        return Err(format!("type check ('{ty}') failed - got '{value}'"));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
        && let Some(re) = compiled(pattern)
        && !re.is_match(value)
    {
        return Err("value does not match the regex pattern".to_string());
    }
    let chars = value.chars().count() as f64;
    if let Some(max) = num(schema.get("maxLength"))
        && chars > max
    {
        return Err(format!("value may only be {max} characters long"));
    }
    if let Some(min) = num(schema.get("minLength"))
        && chars < min
    {
        return Err(format!("value must be at least {min} characters long"));
    }
    if is_number(value) {
        let v: f64 = value.parse().unwrap_or(0.0);
        if let Some(max) = num(schema.get("maximum"))
            && v > max
        {
            return Err(format!(
                "value must have a maximum value of {}",
                show(schema.get("maximum"))
            ));
        }
        if let Some(min) = num(schema.get("minimum"))
            && v < min
        {
            return Err(format!(
                "value must have a minimum value of {}",
                show(schema.get("minimum"))
            ));
        }
    }
    if let Some(list) = schema.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = list.iter().map(|v| show(Some(v))).collect();
        if !names.iter().any(|n| n == value) {
            return Err(format!(
                "value '{value}' does not have a value in the enumeration '{}'",
                names.join(", ")
            ));
        }
    }
    match schema.get("format") {
        Some(Value::String(name)) => {
            formats::check_named(name, value).map_err(|e| format!("invalid format - {e}"))?;
        }
        Some(Value::Object(fmt)) => {
            check_property_string(fmt, value, path).map_err(|e| format!("invalid format - {e}"))?;
        }
        _ => {}
    }
    Ok(())
}

fn show(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// Compiles a schema pattern (Perl syntax, anchored like PVE: `^(?:pattern)$`).
fn compiled(pattern: &str) -> Option<Regex> {
    static CACHE: OnceLock<Mutex<BTreeMap<String, Option<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(BTreeMap::new()));
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(pattern.to_string())
        .or_insert_with(|| {
            let rust = pattern.replace("(?^:", "(?:").replace("\\0", "\\x00");
            Regex::new(&format!("^(?:{rust})$")).ok()
        })
        .clone()
}

/// PVE's `parse_property_string` + `check_object` for `key=value,...` formats.
fn check_property_string(fmt: &Map<String, Value>, value: &str, path: &str) -> Result<(), String> {
    let mut parsed = BTreeMap::new();
    for part in value.split(',') {
        if part.trim().is_empty() {
            continue;
        }
        if let Some((k, v)) = part.split_once('=') {
            if k.is_empty() || v.is_empty() {
                return Err("missing key in comma-separated list property\n".to_string());
            }
            let key = match fmt
                .get(k)
                .and_then(|s| s.get("alias"))
                .and_then(Value::as_str)
            {
                Some(alias) => alias.to_string(),
                None => k.to_string(),
            };
            if !fmt.contains_key(&key) {
                return Err(format!(
                    "invalid key in comma-separated list property: {k}\n"
                ));
            }
            if parsed.contains_key(&key) {
                return Err(format!(
                    "duplicate key in comma-separated list property: {k}\n"
                ));
            }
            let v = match fmt
                .get(&key)
                .and_then(|s| s.get("type"))
                .and_then(Value::as_str)
            {
                Some("boolean") => parse_boolean(v).unwrap_or(v).to_string(),
                _ => v.to_string(),
            };
            parsed.insert(key, v);
        } else {
            let default_key = fmt
                .iter()
                .find(|(_, s)| s.get("default_key").is_some_and(truthy))
                .map(|(k, _)| k.clone());
            match default_key {
                Some(k) if parsed.contains_key(&k) => {
                    return Err(format!(
                        "duplicate key in comma-separated list property: {k}\n"
                    ));
                }
                Some(k) => {
                    parsed.insert(k, part.to_string());
                }
                None => {
                    return Err(
                        "value without key, but schema does not define a default key\n".to_string(),
                    );
                }
            }
        }
    }
    let mut errors = ParamErrors::new();
    check_object(fmt, false, &parsed, &format!("{path}."), &mut errors);
    if errors.is_empty() {
        return Ok(());
    }
    let mut msg = "format error\n".to_string();
    for (k, v) in errors {
        msg.push_str(&format!("{k}: {v}"));
        if !msg.ends_with('\n') {
            msg.push('\n');
        }
    }
    Err(msg)
}

/// PVE's `parse_boolean` (used inside property strings only).
fn parse_boolean(v: &str) -> Option<&'static str> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some("1"),
        "0" | "off" | "no" | "false" => Some("0"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::schema::{Lookup, Schema};

    fn op(method: &str, path: &[&str]) -> &'static Operation {
        let segs: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        match Schema::get().lookup(method, &segs) {
            Lookup::Found(op, _) => op,
            Lookup::NotImplemented => panic!("no op"),
        }
    }

    fn params(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn create_lxc_texts() {
        let op = op("POST", &["nodes", "pve1", "lxc"]);
        let e = validate(
            op,
            &params(&[
                ("node", "pve1"),
                ("vmid", "99"),
                ("start", "true"),
                ("memory", "abc"),
                ("bogus", "1"),
                ("net0", "name=eth0,bridge=vmbr0,ip=dhcp"),
                ("net99", "name=eth0"),
            ]),
        )
        .unwrap_err();
        assert_eq!(e["vmid"], "value must have a minimum value of 100");
        assert_eq!(e["start"], "type check ('boolean') failed - got 'true'");
        assert_eq!(e["memory"], "type check ('integer') failed - got 'abc'");
        assert_eq!(
            e["ostemplate"],
            "property is missing and it is not optional"
        );
        assert!(e["bogus"].starts_with("property is not defined in schema"));
        assert!(e["net99"].starts_with("property is not defined in schema"));
        assert!(!e.contains_key("net0"));
    }

    #[test]
    fn property_string_errors() {
        let op = op("POST", &["nodes", "pve1", "lxc"]);
        let e = validate(
            op,
            &params(&[
                ("node", "pve1"),
                ("vmid", "100"),
                ("ostemplate", "x"),
                ("net0", "foo=bar"),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            e["net0"],
            "invalid format - invalid key in comma-separated list property: foo\n"
        );
    }
}
