import Foundation
import LabCore
import LabModel

@testable import LabImage

/// OCI image layouts made by the tests, entry by entry, for what no image
/// builder makes on purpose: names that climb, links out of a layer,
/// devices, other platforms, tampered or truncated blobs. A ustar writer of
/// the tests' own (the lab reads with libarchive; it writes no tar).
struct OCIFixture {
    enum Entry {
        case file(String, [UInt8], mode: Int = 0o644)
        case directory(String, mode: Int = 0o755)
        case symlink(String, target: String)
        case hardlink(String, target: String)
        case characterDevice(String)
    }

    static func header(_ name: String, type: UInt8, size: Int = 0, mode: Int, link: String = "") -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, _ offset: Int, _ length: Int) {
            for (i, byte) in Array(text.utf8).prefix(length).enumerated() { block[offset + i] = byte }
        }
        func octal(_ value: Int, _ offset: Int, _ length: Int) { put(String(format: "%0\(length - 1)o", value), offset, length - 1) }
        put(name, 0, 100)
        octal(mode, 100, 8); octal(0, 108, 8); octal(0, 116, 8); octal(size, 124, 12); octal(1_700_000_000, 136, 12)
        put("        ", 148, 8)
        block[156] = type
        put(link, 157, 100)
        put("ustar", 257, 6); put("00", 263, 2)
        octal(0, 329, 8); octal(0, 337, 8)
        octal(block.reduce(0) { $0 + Int($1) }, 148, 7)
        return block
    }

    static func tar(_ entries: [Entry]) -> [UInt8] {
        var out: [UInt8] = []
        for entry in entries {
            switch entry {
            case .file(let name, let bytes, let mode):
                out += header(name, type: UInt8(ascii: "0"), size: bytes.count, mode: mode)
                out += bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512)
            case .directory(let name, let mode): out += header(name, type: UInt8(ascii: "5"), mode: mode)
            case .symlink(let name, let target): out += header(name, type: UInt8(ascii: "2"), mode: 0o777, link: target)
            case .hardlink(let name, let target): out += header(name, type: UInt8(ascii: "1"), mode: 0o644, link: target)
            case .characterDevice(let name): out += header(name, type: UInt8(ascii: "3"), mode: 0o666)
            }
        }
        return out + [UInt8](repeating: 0, count: 1024)
    }

    static func digest(_ bytes: [UInt8]) -> String { OCI.Digest(of: bytes).description }

    static func json(_ object: Any) -> [UInt8] {
        Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    /// What a test may change on the way: a layer's bytes after its digest is
    /// taken (tampering, truncation), the descriptors, the config.
    struct Options {
        var architecture = OCI.Platform.host.architecture
        var gzip = true
        var config: [String: Any] = ["Cmd": ["/bin/sh"]]
        var layerMediaType: String?
        var declaredLayerSize: Int?
        var tamper: ((inout [UInt8]) -> Void)?
        var diffIDs: [String]?
        var ref = "v1"
    }

    /// Writes a layout at `path` with one image of `layers`; returns the manifest digest.
    @discardableResult
    static func write(_ path: String, layers: [[Entry]], _ options: Options = Options()) throws -> String {
        try FileSystem.createDirectory(path + "/blobs/sha256", mode: 0o755, parents: 0o755)
        func blob(_ bytes: [UInt8]) throws -> String {
            let digest = digest(bytes)
            try FileSystem.writeAtomically(path + "/blobs/sha256/" + digest.dropFirst(7), bytes: bytes)
            return digest
        }
        var descriptors: [[String: Any]] = []
        var diffIDs: [String] = []
        for entries in layers {
            let raw = tar(entries)
            diffIDs.append(digest(raw))
            var stored = options.gzip ? try Gzip.compress(raw) : raw
            let digest = digest(stored)
            options.tamper?(&stored)
            try FileSystem.writeAtomically(path + "/blobs/sha256/" + digest.dropFirst(7), bytes: stored)
            descriptors.append(["mediaType": options.layerMediaType ?? (options.gzip ? OCI.MediaType.layerGzip : OCI.MediaType.layerTar),
                                "digest": digest, "size": options.declaredLayerSize ?? stored.count])
        }
        let config = json(["architecture": options.architecture, "os": "linux", "config": options.config,
                           "rootfs": ["type": "layers", "diff_ids": options.diffIDs ?? diffIDs]])
        let manifest = json(["schemaVersion": 2, "mediaType": OCI.MediaType.manifest,
                             "config": ["mediaType": OCI.MediaType.config, "digest": try blob(config), "size": config.count],
                             "layers": descriptors])
        let manifestDigest = try blob(manifest)
        let index = json(["schemaVersion": 2, "manifests": [["mediaType": OCI.MediaType.manifest, "digest": manifestDigest, "size": manifest.count,
                                                             "annotations": [OCI.Descriptor.refName: options.ref]]]])
        try FileSystem.writeAtomically(path + "/index.json", bytes: index)
        try FileSystem.writeAtomically(path + "/oci-layout", bytes: Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        return manifestDigest
    }

    /// A busybox base: the static binary and the links the tests use.
    static func busyboxBase() throws -> [Entry] {
        [.directory("bin/"), .directory("etc/"), .file("bin/busybox", try FileSystem.readBytes("/bin/busybox"), mode: 0o755)]
            + ["sh", "ls", "cat", "stat", "id", "echo", "find", "sort"].map { .symlink("bin/" + $0, target: "busybox") }
    }

    static func text(_ name: String, _ content: String, mode: Int = 0o644) -> Entry { .file(name, Array(content.utf8), mode: mode) }
}
