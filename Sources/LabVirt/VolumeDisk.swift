import CLabHost
import Foundation
import LabWire
import LabCore
import LabImage
import LabModel

/// A guest's volume: a raw disk image with an empty ext4 file system, on
/// the host's disk beside the lab's other state (so that the guest's I/O
/// goes to the same storage as a container's or a process's volume), made
/// without loop devices (`mkfs.ext4` writes the file itself) and owned by
/// the user QEMU runs as, since the domain asks libvirt for no relabelling.
public enum VolumeDisk {
    public static let fileName = "data.img"

    public static func make(_ path: String, bytes: UInt64) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LabError.syscall("create \(path)") }
        let sized = ftruncate(fd, off_t(bytes)) == 0
        let err = errno
        close(fd)
        guard sized else { throw LabError.syscall("size \(path) to \(bytes) bytes", errno: err) }
        guard let mkfs = HostCommand.which("mkfs.ext4") ?? HostCommand.which("/sbin/mkfs.ext4") else {
            throw LabError(.unsupported, "mkfs.ext4 not found; apt-get install e2fsprogs")
        }
        // No reserved blocks, no lazy initialisation left for the guest to do while it is measured.
        let output = try HostCommand.run(mkfs, ["-q", "-F", "-m", "0", "-E", "lazy_itable_init=0,lazy_journal_init=0,nodiscard", path], timeout: 120)
        guard output.status == 0 else {
            throw LabError(.failed, "mkfs.ext4 \(path): \(output.stderr.trimmingWhitespace())")
        }
        if let qemu = QEMUUser.lookup() {
            guard chown(path, qemu.uid, qemu.gid) == 0 else { throw LabError.syscall("chown \(path)") }
        }
    }
}

/// A whole-OS guest's root disk: a qcow2 overlay of the image's disk, one
/// per instance, so that the image itself is never written. Owned by QEMU's
/// user, mode 0600; the image's disk (the backing file) stays read-only and
/// shared.
public enum OverlayDisk {
    public static let fileName = "root.qcow2"

    public static func make(_ path: String, backing: String) throws {
        guard let qemuImg = HostCommand.which("qemu-img") else {
            throw LabError(.unsupported, "qemu-img not found; apt-get install qemu-utils (scripts/setup-host does)")
        }
        // -F: libvirt refuses a backing file whose format is recorded nowhere.
        let output = try HostCommand.run(qemuImg, ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", backing, path], timeout: 60)
        guard output.status == 0 else {
            throw LabError(.failed, "qemu-img create \(path) on \(backing): \(output.stderr.trimmingWhitespace())")
        }
        guard chmod(path, 0o600) == 0 else { throw LabError.syscall("chmod \(path)") }
        if let qemu = QEMUUser.lookup() {
            guard chown(path, qemu.uid, qemu.gid) == 0 else { throw LabError.syscall("chown \(path)") }
        }
    }
}

/// The guest kernel's virtio modules, which Debian's cloud kernel builds as
/// modules: `scripts/setup-host` extracts them beside the kernel, and a
/// guest with a volume boots an initramfs with them appended.
public enum GuestModules {
    /// In load order (each after what it depends on).
    public static let names = ["virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "virtio_blk"]
    /// Where they are inside the guest's initramfs.
    public static let directoryInGuest = "/lib/modules/isolab"

    public static func directory(for kernel: GuestKernel, paths: LabPaths) -> String {
        paths.kernels + "/modules/" + kernel.version
    }

    public static var pathsInGuest: [String] { names.map { directoryInGuest + "/" + $0 + ".ko" } }
}

extension GuestModules {
    /// The image's initramfs with a second cpio archive appended that holds
    /// the modules (the kernel unpacks concatenated archives in turn), made
    /// once per image and kernel under `cache/initrd/`.
    public static func initramfs(appendingTo image: String, kernel: GuestKernel, paths: LabPaths) throws -> String {
        let source = directory(for: kernel, paths: paths)
        var st = stat()
        guard stat(image, &st) == 0 else { throw LabError.syscall("stat \(image)") }
        let key = SHA256.hash(Array("\(image) \(st.st_size) \(st.st_mtim.tv_sec) \(kernel.version) \(kernel.sizeBytes)".utf8))
            .prefix(12).map { String(format: "%02x", $0) }.joined()
        let cache = paths.path(.initrdCache)
        let path = cache + "/" + key + ".cpio"
        if FileSystem.exists(path) { return path }
        var writer = CpioWriter()
        try writer.appendDirectory("lib")
        try writer.appendDirectory("lib/modules")
        try writer.appendDirectory(String(directoryInGuest.dropFirst()))
        for name in names {
            let file = source + "/" + name + ".ko"
            guard FileSystem.exists(file) else {
                throw LabError(.notFound, "guest kernel module \(file) not found; run scripts/setup-host (it extracts the virtio modules a guest's volume needs)")
            }
            try writer.appendFile(String(directoryInGuest.dropFirst()) + "/" + name + ".ko", mode: 0o644, contents: try FileSystem.readBytes(file))
        }
        writer.finish()
        try paths.ensure(.initrdCache)
        try FileSystem.writeAtomically(path, bytes: try FileSystem.readBytes(image) + writer.bytes, mode: 0o644, durable: false)
        return path
    }
}

extension GuestModules {
    /// The small initramfs an OCI image's guest boots: the lab's agent as
    /// `/init` (a static executable) and the virtio modules, nothing of the
    /// image. The agent mounts the image's disk and makes it the root
    /// (`isolab.root=`). Made once per agent and kernel under `cache/initrd/`.
    public static func agentInitramfs(agent: String, kernel: GuestKernel, paths: LabPaths) throws -> String {
        var st = stat()
        guard stat(agent, &st) == 0 else { throw LabError(.notFound, "isolab-agent not found at \(agent); build it (swift build)") }
        let key = SHA256.hash(Array("agent \(agent) \(st.st_size) \(st.st_mtim.tv_sec) \(st.st_mtim.tv_nsec)".utf8))
            .prefix(12).map { String(format: "%02x", $0) }.joined()
        let cache = paths.path(.initrdCache)
        let base = cache + "/agent-" + key + ".cpio"
        if !FileSystem.exists(base) {
            var writer = CpioWriter()
            try writer.appendFile("init", mode: 0o755, contents: try FileSystem.readBytes(agent))
            writer.finish()
            try paths.ensure(.initrdCache)
            try FileSystem.writeAtomically(base, bytes: writer.bytes, mode: 0o644, durable: false)
        }
        return try initramfs(appendingTo: base, kernel: kernel, paths: paths)
    }
}
