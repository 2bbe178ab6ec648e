//! Small helpers shared by the load generators of `bench/` (the
//! `ws_load` and `mcp_load` examples): a server's CPU time from
//! `/proc/PID/stat` and latency percentiles.

/// utime + stime of a process (all its threads), in clock ticks; `None`
/// if it cannot be read (no such process, or no `/proc`).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    cpu_ticks_split(pid).map(|(user, system)| user + system)
}

/// [`cpu_ticks`] in two: user time and kernel (system) time, to tell a
/// process's own work from the system calls and wake-ups it pays for.
pub fn cpu_ticks_split(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in field 2 may hold spaces and parentheses: the
    // fields that follow start after its last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of stat(5); `rest` starts at field 3.
    Some((f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?))
}

/// Clock ticks per second (`getconf CLK_TCK`; 100, Linux's value, if
/// `getconf` cannot be run).
pub fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The `p` quantile (0..=1, nearest rank) of `sorted` nanosecond samples,
/// in microseconds; NaN when there are none.
pub fn percentile_us(sorted: &[u32], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    f64::from(sorted[((n as f64 * p).ceil() as usize).clamp(1, n) - 1]) / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile_us(&v, 0.5), 50.0);
        assert_eq!(percentile_us(&v, 0.99), 99.0);
        assert_eq!(percentile_us(&v, 1.0), 100.0);
        assert_eq!(percentile_us(&v, 0.0), 1.0);
        assert!(percentile_us(&[], 0.5).is_nan());
    }

    #[test]
    fn own_cpu_ticks_are_readable() {
        assert!(cpu_ticks(std::process::id()).is_some());
        assert!(clk_tck() > 0.0);
    }
}
