import CLibcap
import LabCore
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// Linux capabilities, named and numbered through libcap. The container's set
/// is built here, in the parent; the child applies it with prctl and capset
/// (it may only make system calls between clone and exec).
public enum Capabilities {
    /// runc's default set.
    public static let defaultNames = [
        "cap_chown", "cap_dac_override", "cap_fsetid", "cap_fowner", "cap_mknod", "cap_net_raw", "cap_setgid",
        "cap_setuid", "cap_setfcap", "cap_setpcap", "cap_net_bind_service", "cap_sys_chroot", "cap_kill",
        "cap_audit_write",
    ]

    /// The highest capability number this kernel knows.
    public static var lastCapability: Int32 { Int32(cap_max_bits()) - 1 }

    /// The names (`cap_sys_admin`, ...) of the calling process's effective set.
    public static func effective() throws -> [String] {
        guard let caps = cap_get_proc() else { throw LabError.syscall("cap_get_proc") }
        defer { cap_free(UnsafeMutableRawPointer(caps)) }
        var names: [String] = []
        for value in 0...lastCapability {
            var flag = cap_flag_value_t(rawValue: 0)
            guard cap_get_flag(caps, cap_value_t(value), CAP_EFFECTIVE, &flag) == 0 else { continue }
            if flag == CAP_SET {
                names.append(name(of: cap_value_t(value)))
            }
        }
        return names
    }

    /// libcap's name for a capability number.
    public static func name(of value: cap_value_t) -> String {
        guard let text = cap_to_name(value) else { return "cap_\(value)" }
        defer { cap_free(UnsafeMutableRawPointer(text)) }
        return String(cString: text)
    }

    /// The number of `name` (`chown`, `cap_chown` or `CAP_CHOWN`), or a
    /// one-line error naming it.
    public static func value(of name: String) throws -> Int32 {
        var lowered = name.lowercased()
        if !lowered.hasPrefix("cap_") { lowered = "cap_" + lowered }
        var value: cap_value_t = 0
        guard cap_from_name(lowered, &value) == 0, value <= lastCapability else {
            throw LabError(.invalidInput, "unknown capability '\(name)'; names are like CAP_NET_ADMIN or net_admin (see capabilities(7))")
        }
        return Int32(value)
    }

    /// The default set with `add` added and `drop` dropped (`ALL` allowed in
    /// either), as a bit mask and as names.
    public static func set(adding add: [String], dropping drop: [String]) throws -> (mask: UInt64, names: [String]) {
        var mask: UInt64 = 0
        for name in defaultNames { mask |= 1 << UInt64(try value(of: name)) }
        let all: UInt64 = lastCapability >= 63 ? .max : (UInt64(1) << UInt64(lastCapability + 1)) - 1
        for name in add {
            mask |= name.uppercased() == "ALL" ? all : 1 << UInt64(try value(of: name))
        }
        for name in drop {
            mask &= name.uppercased() == "ALL" ? 0 : ~(1 << UInt64(try value(of: name)))
        }
        let names = (0...lastCapability).filter { mask & (1 << UInt64($0)) != 0 }.map { self.name(of: cap_value_t($0)) }
        return (mask, names)
    }

    /// A mask from `CapEff:`-style hex.
    public static func mask(fromHex text: String) -> UInt64? {
        UInt64(text.trimmingWhitespace(), radix: 16)
    }
}
