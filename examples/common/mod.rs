//! Command-line flags shared by the examples: `--name value` pairs, read
//! with a default when absent and a message naming the flag when a value
//! does not parse.

/// The value after flag `name`, if given.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The flag's value parsed as `T`, or `default` when absent.
pub fn number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    arg(name).map_or(Ok(default), |s| {
        s.parse().map_err(|_| format!("{name}: cannot read `{s}`"))
    })
}

/// The flag's comma-separated values parsed as `T` (`default` when absent).
#[allow(dead_code)] // not every example takes a list
pub fn list<T: std::str::FromStr>(name: &str, default: &str) -> Result<Vec<T>, String>
where
    T::Err: std::fmt::Display,
{
    let text = arg(name).unwrap_or_else(|| default.to_string());
    text.split(',')
        .map(|s| {
            let s = s.trim();
            s.parse::<T>()
                .map_err(|e| format!("{name}: cannot read `{s}`: {e}"))
        })
        .collect()
}
