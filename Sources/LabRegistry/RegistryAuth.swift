import Foundation
import LabCore
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// A user name and password for one registry, from an auth file in the
/// format skopeo, podman and Docker share:
/// `{"auths": {"HOST[:PORT]": {"auth": base64("user:password")}}}`.
public struct RegistryCredentials: Sendable, Equatable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// `Authorization: Basic ...`.
    public var basic: String { "Basic " + Data((username + ":" + password).utf8).base64EncodedString() }

    /// The credentials `file` holds for `host`, or nil when it names none.
    /// A file that others may read is refused before it is read: it holds
    /// a password.
    public static func load(file: String, host: String) throws -> RegistryCredentials? {
        var info = stat()
        guard stat(file, &info) == 0 else {
            throw LabError(.invalidInput, "auth file \(file): \(String(cString: strerror(errno))); give an existing file, or none")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw LabError(.invalidInput, "auth file \(file) can be read by others (mode \(String(info.st_mode & 0o777, radix: 8))); it holds passwords: chmod 600 \(file)")
        }
        struct File: Decodable {
            struct Entry: Decodable {
                var auth: String?
                var username: String?
                var password: String?
            }
            var auths: [String: Entry]
        }
        let parsed: File
        do {
            parsed = try JSONDecoder().decode(File.self, from: Data(try FileSystem.readBytes(file)))
        } catch let error as LabError {
            throw error
        } catch {
            throw LabError(.invalidInput, "auth file \(file) is not {\"auths\": {\"HOST\": {\"auth\": \"BASE64(user:password)\"}}}")
        }
        guard let entry = parsed.auths[host] ?? parsed.auths["http://" + host] ?? parsed.auths["https://" + host] else { return nil }
        if let username = entry.username, let password = entry.password { return RegistryCredentials(username: username, password: password) }
        guard let auth = entry.auth, let data = Data(base64Encoded: auth), let text = String(data: data, encoding: .utf8),
              let colon = text.firstIndex(of: ":") else {
            throw LabError(.invalidInput, "auth file \(file): the entry for \(host) has no auth of base64(user:password)")
        }
        return RegistryCredentials(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
    }
}

/// A `WWW-Authenticate` challenge (RFC 7235): the scheme and its
/// parameters. Values are quoted strings that may hold commas (a scope of
/// `repository:lab/app:pull,push`), so the header is read as pairs, never
/// split on commas.
public struct AuthChallenge: Sendable, Equatable {
    public var scheme: String
    public var parameters: [String: String]

    public init?(header: String) {
        let text = Array(header.utf8)
        var i = 0
        func skipSpace() { while i < text.count, text[i] == 0x20 || text[i] == 0x09 { i += 1 } }
        skipSpace()
        let schemeStart = i
        while i < text.count, text[i] != 0x20 { i += 1 }
        guard i > schemeStart else { return nil }
        scheme = String(decoding: text[schemeStart..<i], as: UTF8.self).lowercased()
        parameters = [:]
        while i < text.count {
            skipSpace()
            while i < text.count, text[i] == UInt8(ascii: ",") || text[i] == 0x20 { i += 1 }
            let keyStart = i
            while i < text.count, text[i] != UInt8(ascii: "="), text[i] != UInt8(ascii: ",") { i += 1 }
            let key = String(decoding: text[keyStart..<i], as: UTF8.self).trimmingCharacters(in: .whitespaces).lowercased()
            guard i < text.count, text[i] == UInt8(ascii: "=") else { break }
            i += 1
            var value: [UInt8] = []
            if i < text.count, text[i] == UInt8(ascii: "\"") {
                i += 1
                while i < text.count, text[i] != UInt8(ascii: "\"") {
                    if text[i] == UInt8(ascii: "\\"), i + 1 < text.count { i += 1 }
                    value.append(text[i])
                    i += 1
                }
                i += 1
            } else {
                while i < text.count, text[i] != UInt8(ascii: ",") { value.append(text[i]); i += 1 }
            }
            if !key.isEmpty { parameters[key] = String(decoding: value, as: UTF8.self).trimmingCharacters(in: .whitespaces) }
        }
    }
}
