import LabCore
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// Finding the kernel the lab boots its VMs with: Debian's cloud kernel,
/// extracted by `scripts/setup-host` into `<state>/kernels/` (never
/// installed as the host's boot kernel). `kernels/vmlinuz` links to the
/// current one.
extension GuestKernel {
    /// The kernel `kernels/vmlinuz` points at, or nil with the reason.
    public static func find(paths: LabPaths) -> Result<GuestKernel, LabError> {
        let link = paths.kernels + "/vmlinuz"
        var target = [CChar](repeating: 0, count: 4096)
        let n = readlink(link, &target, target.count - 1)
        let resolved: String
        if n > 0 {
            let name = String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            resolved = name.hasPrefix("/") ? name : paths.kernels + "/" + name
        } else {
            resolved = link
        }
        return at(resolved)
    }

    /// A kernel at an explicit path; its version is read from the file name
    /// (`vmlinuz-6.1.0-56-cloud-amd64`) or, failing that, from the bzImage header.
    public static func at(_ path: String) -> Result<GuestKernel, LabError> {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            return .failure(LabError(.notFound, "guest kernel \(path) not found; run scripts/setup-host to download Debian's cloud kernel"))
        }
        let base = path.split(separator: "/").last.map(String.init) ?? path
        let version = base.hasPrefix("vmlinuz-") ? String(base.dropFirst("vmlinuz-".count)) : (bzImageVersion(path) ?? "unknown")
        return .success(GuestKernel(path: path, version: version, sizeBytes: Int(st.st_size)))
    }

    /// The version string a bzImage carries (boot protocol field
    /// `kernel_version` at 0x20E, an offset from 0x200).
    static func bzImageVersion(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 0x210)
        guard pread(fd, &header, header.count, 0) == header.count,
              header[0x202] == UInt8(ascii: "H"), header[0x203] == UInt8(ascii: "d") else { return nil }
        let offset = Int(header[0x20E]) | Int(header[0x20F]) << 8
        var text = [UInt8](repeating: 0, count: 128)
        guard pread(fd, &text, text.count, off_t(offset + 0x200)) > 0 else { return nil }
        let version = text.prefix(while: { $0 != 0 && $0 != UInt8(ascii: " ") })
        return version.isEmpty ? nil : String(decoding: version, as: UTF8.self)
    }
}
