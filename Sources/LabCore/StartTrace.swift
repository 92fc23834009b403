#if canImport(Glibc)
import Glibc
#endif

/// Marks on the way through one `isolab` process, to attribute its own time
/// (`isolab-bench cli-start --phases`): with `ISOLAB_TRACE_START` set in its
/// environment, each mark writes `isolab-trace NAME NS` to standard error,
/// NS on the monotonic clock the benchmark's own spawn and exit marks use.
/// Without it, a mark reads one flag.
public enum StartTrace {
    static let enabled = getenv("ISOLAB_TRACE_START") != nil

    public static func mark(_ name: String) {
        guard enabled else { return }
        let line = Array("isolab-trace \(name) \(MonotonicClock.now())\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// The marks in `text` (a traced process's standard error), in order.
    public static func marks(in text: String) -> [(name: String, ns: UInt64)] {
        text.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ")
            guard words.count == 3, words[0] == "isolab-trace", let ns = UInt64(words[2]) else { return nil }
            return (String(words[1]), ns)
        }
    }
}
