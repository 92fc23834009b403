import CLibcap
import LabCore

#if canImport(Glibc)
import Glibc
#endif

/// Linux capabilities, read and named through libcap.
public enum Capabilities {
    /// The names (`cap_sys_admin`, ...) of the calling process's effective set.
    public static func effective() throws -> [String] {
        guard let caps = cap_get_proc() else { throw LabError.syscall("cap_get_proc") }
        defer { cap_free(UnsafeMutableRawPointer(caps)) }
        var names: [String] = []
        let last = cap_max_bits()
        for value in 0..<Int32(last) {
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
}
