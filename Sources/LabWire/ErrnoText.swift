import CLabShared

/// Names for errno values, as the lab and the agent both print them.
public enum ErrnoText {
    /// `EACCES (permission denied)`.
    public static func describe(_ err: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 320)
        lab_errno_describe(err, &buffer, buffer.count)
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The bare symbol, `EACCES`.
    public static func name(_ err: Int32) -> String {
        lab_errno_name(err).map { String(cString: $0) } ?? "errno \(err)"
    }
}

/// The loopback interface of the calling process's network namespace (a new
/// one, or a VM just booted, has it down): up, or the errno.
public enum Loopback {
    public static func up() -> Int32 { lab_loopback_up() }
}

/// Instance ids: 12 random hex digits, as every container, guest and volume
/// of the lab is named (`isolab-<id>` for a domain).
public enum InstanceID {
    public static func next() -> String {
        var generator = SystemRandomNumberGenerator()
        let hex = String(generator.next() & 0xFFFF_FFFF_FFFF, radix: 16)
        return String(repeating: "0", count: 12 - hex.count) + hex
    }
}
