import LabCore
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// An OCI image as a VM boots it: its layers merged by the kernel's own
/// overlay (read-only, whiteouts applied as in a container), written into an
/// ext4 file system by `mkfs.ext4 -d` (no loop device), then qcow2. Made once
/// per image digest, as `images/<digest>/disk.qcow2`, and shared read-only:
/// each guest writes to a qcow2 overlay of its own.
public enum OCIDisk {
    public static let fileName = "disk.qcow2"

    /// The image's disk, made if missing. Returns its path and whether it was made now.
    public static func disk(for record: ImageStore.Record, paths: LabPaths) throws -> (path: String, made: Bool) {
        guard let oci = record.manifest.oci, let lowers = record.lowerDirectories else {
            throw LabError(.invalidInput, "image \(record.manifest.name) is not an OCI image")
        }
        let path = record.directory + "/" + fileName
        if FileSystem.exists(path) { return (path, false) }
        var tools: [String: String] = [:]
        for (tool, package) in [("mkfs.ext4", "e2fsprogs"), ("qemu-img", "qemu-utils"), ("unshare", "util-linux")] {
            guard let found = HostCommand.which(tool) ?? HostCommand.which("/sbin/" + tool) else {
                throw LabError(.unsupported, "\(tool) not found; apt-get install \(package) (scripts/setup-host does)")
            }
            tools[tool] = found
        }
        let scratch = try OCIStore(paths: paths).scratch("disk")
        let token = CleanupRegistry.shared.register { try? FileSystem.removeTree(scratch) }
        defer {
            try? FileSystem.removeTree(scratch)
            CleanupRegistry.shared.unregister(token)
        }
        let merged = scratch + "/merged", raw = scratch + "/disk.raw"
        try FileSystem.makeDirectory(merged, mode: 0o755)
        // Room for the files, ext4's own metadata and the guest's first
        // writes (its overlay holds what it changes).
        let unpacked = oci.layers.reduce(0) { $0 + $1.unpackedBytes }
        let bytes = max(64 << 20, (unpacked / 4 * 5 + (32 << 20) + (1 << 20) - 1) / (1 << 20) * (1 << 20))
        // The overlay only in a mount namespace of its own: nothing to
        // unmount, nothing left if the lab dies. One layer is its own tree
        // (an overlay without an upper directory needs two lower ones).
        let script = lowers.count == 1
            ? #"exec "$3" -q -F -L isolab -i 8192 -d "$1" "$4" "$5""#
            : #"mount -t overlay overlay -o "lowerdir=$1" "$2" && exec "$3" -q -F -L isolab -i 8192 -d "$2" "$4" "$5""#
        let source = lowers.count == 1 ? (FileSystem.realPath(lowers[0]) ?? lowers[0]) : lowers.joined(separator: ":")
        let made = try HostCommand.run(tools["unshare"]!, ["--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh",
                                                          source, merged, tools["mkfs.ext4"]!, raw, "\(bytes / 1024)k"], timeout: 600)
        guard made.status == 0 else {
            throw LabError(.failed, "making the VM disk of \(record.manifest.name): \(made.stderr.trimmingWhitespace())")
        }
        let qcow2 = scratch + "/" + fileName
        let converted = try HostCommand.run(tools["qemu-img"]!, ["convert", "-O", "qcow2", raw, qcow2], timeout: 600)
        guard converted.status == 0 else { throw LabError(.failed, "qemu-img convert: \(converted.stderr.trimmingWhitespace())") }
        // Read by QEMU's user as the guests' backing file, never written.
        guard chmod(qcow2, 0o644) == 0 else { throw LabError.syscall("chmod \(qcow2)") }
        guard rename(qcow2, path) == 0 || errno == EEXIST else { throw LabError.syscall("rename \(qcow2) to \(path)") }
        return (path, true)
    }
}
