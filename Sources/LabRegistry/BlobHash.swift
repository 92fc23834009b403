import CLibcrypto
import LabImage
import LabModel

/// SHA-256 by OpenSSL's libcrypto (EVP): a blob is hashed as it arrives,
/// so the hash's speed is the pull's. Portable SHA-256 (LabWire's) ran at
/// a fifth of the speed here, and held a pull to 1.3 x skopeo's time.
final class BlobHash {
    private let context: OpaquePointer

    init() throws {
        guard let context = EVP_MD_CTX_new() else { throw LabError(.failed, "libcrypto: cannot make a digest context") }
        self.context = context
        try reset()
    }

    deinit { EVP_MD_CTX_free(context) }

    func reset() throws {
        guard EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else { throw LabError(.failed, "libcrypto: SHA-256 is not available") }
    }

    func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    func finish() -> OCI.Digest {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = digest.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(64)
        for byte in digest { text.append(hex[Int(byte >> 4)]); text.append(hex[Int(byte & 0xF)]) }
        return OCI.Digest(hex: String(decoding: text, as: UTF8.self))
    }
}
