import AsyncHTTPClient
import Foundation
import LabCore
import LabImage
import LabModel
import NIOCore
import NIOHTTP1
import Synchronization

/// One registry, spoken to over the OCI distribution API (`/v2/`) with
/// async-http-client: the authentication dance (anonymous, Basic, or a
/// bearer token from the realm a `WWW-Authenticate` challenge names, per
/// scope), bounded retries with back-off, and the registry's JSON errors
/// turned into one-line messages. Redirects are followed only where the
/// spec allows them (blob GET/HEAD), by hand: an `Authorization` header
/// never goes to another origin.
public final class RegistryClient: Sendable {
    public let host: String
    /// `http://HOST` or `https://HOST`.
    public let base: String
    let credentials: RegistryCredentials?
    let http: HTTPClient
    /// scope -> the Authorization value that works for it.
    private let authorizations = Mutex<[String: String]>([:])
    /// What a retry waits: doubled each time (tests make it short).
    let backoff: Double
    let attempts: Int

    init(host: String, secure: Bool, credentials: RegistryCredentials?, http: HTTPClient, backoff: Double, attempts: Int) {
        self.host = host
        base = (secure ? "https://" : "http://") + host
        self.credentials = credentials
        self.http = http
        self.backoff = backoff
        self.attempts = attempts
    }

    /// A client for `reference`'s registry, shut down when `body` ends.
    /// Plain HTTP only on loopback or with `insecure`, as Docker does.
    public static func with<T: Sendable>(
        _ reference: ImageReference, insecure: Bool, credentials: RegistryCredentials?,
        _ body: (RegistryClient) async throws -> T
    ) async throws -> T {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
        configuration.httpVersion = .http1Only
        // A refused connection is said at once, not retried for the connect deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let backoff = ProcessInfo.processInfo.environment["ISOLAB_REGISTRY_BACKOFF"].flatMap(Double.init) ?? 0.5
        let client = RegistryClient(host: reference.host, secure: !(insecure || reference.isLoopback), credentials: credentials,
                                    http: http, backoff: backoff, attempts: 4)
        do {
            let result = try await body(client)
            try? await http.shutdown()
            return result
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    public static let manifestAccept = [OCI.MediaType.index, OCI.MediaType.manifest, OCI.MediaType.dockerList, OCI.MediaType.dockerManifest].joined(separator: ", ")

    /// A request the client may send again: its body is made anew each time.
    struct Call {
        var method: HTTPMethod
        var url: String
        var headers = HTTPHeaders()
        var body: (@Sendable () -> HTTPClientRequest.Body?)? = nil
        /// `repository:NAME:pull` or `...:pull,push`.
        var scope: String
        var timeout: TimeAmount = .seconds(30)
        /// Follow 3xx (blob GET and HEAD only).
        var followsRedirects = false
        /// Send again on a transient failure. Not an upload's PUT: the
        /// registry may have kept part of the body, so a retry starts a new
        /// upload (its caller's loop); its transient errors come back raw.
        var retries = true
        /// What it is, for errors: "manifest lab/app:v1".
        var what: String
    }

    /// Sends `call`, authenticating when challenged (once per scheme), retrying
    /// transient failures, following a blob's redirects. The response's body
    /// is the caller's to read.
    func send(_ call: Call) async throws -> HTTPClientResponse {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let response = try await sendAuthenticated(call)
                if call.retries, Self.isTransient(response.status), attempt < attempts {
                    _ = try? await response.body.collect(upTo: 64 << 10)
                    try await pause(attempt, retryAfter: response.headers.first(name: "Retry-After"))
                    continue
                }
                return response
            } catch let error as LabError {
                throw error
            } catch {
                if error is CancellationError { throw error }
                if !call.retries, Self.isTransient(error) { throw error }
                guard Self.isTransient(error), attempt < attempts else { throw describe(error, call) }
                try await pause(attempt, retryAfter: nil)
            }
        }
    }

    func pause(_ attempt: Int, retryAfter: String?) async throws {
        let asked = retryAfter.flatMap(Double.init).flatMap { $0.isFinite && $0 >= 0 ? min($0, 10) : nil }
        let delay = asked ?? min(backoff * Double(1 << (attempt - 1)), 8)
        try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
    }

    static func isTransient(_ status: HTTPResponseStatus) -> Bool {
        [.tooManyRequests, .badGateway, .serviceUnavailable, .gatewayTimeout].contains(status)
    }

    /// Connection faults worth another try: a reset, a close, a timeout.
    /// A refused connection is not: the registry is down, and saying so at
    /// once is kinder than trying for a minute.
    static func isTransient(_ error: any Error) -> Bool {
        if let error = error as? HTTPClientError {
            return [HTTPClientError.remoteConnectionClosed, .readTimeout, .writeTimeout, .connectTimeout, .deadlineExceeded].contains(error)
        }
        if let error = error as? IOError { return [ECONNRESET, EPIPE, ECONNABORTED, ETIMEDOUT].contains(error.errnoCode) }
        return error is ChannelError
    }

    func describe(_ error: any Error, _ call: Call) -> LabError {
        let text = "\(error)"
        if text.contains("connection refused") || text.contains("Connection refused") || (error as? IOError)?.errnoCode == ECONNREFUSED {
            return LabError(.failed, "cannot reach the registry at \(base) (connection refused): is it running, and is \(host) its address?")
        }
        if text.contains("UnknownHost") {
            return LabError(.failed, "cannot resolve the registry's host \(host.split(separator: ":").first ?? "") (DNS): is the name right?")
        }
        if let error = error as? HTTPClientError, error == .connectTimeout {
            return LabError(.failed, "the registry at \(base) did not answer within 10 s (connect timeout)")
        }
        return LabError(.failed, "\(call.what) from \(base): \(text)")
    }

    private func sendAuthenticated(_ call: Call) async throws -> HTTPClientResponse {
        var url = call.url
        var hops = 0
        // An upload's Location may name another origin: credentials go only to the registry's own.
        var sameOrigin = Self.origin(call.url) == Self.origin(base)
        var challenged = false
        while true {
            var request = HTTPClientRequest(url: url)
            request.method = call.method
            request.headers = call.headers
            if sameOrigin, let authorization = authorizations.withLock({ $0[call.scope] }) {
                request.headers.replaceOrAdd(name: "Authorization", value: authorization)
            }
            request.body = call.body?()
            let response = try await http.execute(request, timeout: call.timeout)
            if response.status == .unauthorized, sameOrigin, !challenged,
               let header = response.headers.first(name: "WWW-Authenticate"), let challenge = AuthChallenge(header: header) {
                _ = try? await response.body.collect(upTo: 64 << 10)
                challenged = true
                try await authenticate(challenge, scope: call.scope)
                continue
            }
            if call.followsRedirects, [.movedPermanently, .found, .seeOther, .temporaryRedirect, .permanentRedirect].contains(response.status),
               let location = response.headers.first(name: "Location") {
                _ = try? await response.body.collect(upTo: 64 << 10)
                hops += 1
                guard hops <= 5, let next = URL(string: location, relativeTo: URL(string: url))?.absoluteURL,
                      next.scheme == "http" || next.scheme == "https" else {
                    throw LabError(.failed, "\(call.what): the registry redirected more than 5 times, or to '\(location)'")
                }
                url = next.absoluteString
                sameOrigin = sameOrigin && Self.origin(url) == Self.origin(base)
                continue
            }
            return response
        }
    }

    /// Scheme, host and port (the default port made explicit).
    static func origin(_ text: String) -> String? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() else { return nil }
        return "\(scheme)://\(host):\(url.port ?? (scheme == "https" ? 443 : 80))"
    }

    /// Answers a challenge: Basic with the credentials given, Bearer with a
    /// token from the realm (the credentials, if any, as Basic to it).
    func authenticate(_ challenge: AuthChallenge, scope: String) async throws {
        switch challenge.scheme {
        case "basic":
            guard let credentials else {
                throw LabError(.failed, "the registry at \(base) asks for a user name and password; give an auth file with --authfile (or REGISTRY_AUTH_FILE)")
            }
            authorizations.withLock { $0[scope] = credentials.basic }
        case "bearer":
            guard let realm = challenge.parameters["realm"], var components = URLComponents(string: realm),
                  components.scheme == "http" || components.scheme == "https" else {
                throw LabError(.failed, "the registry at \(base) asks for a token but names no http(s) realm")
            }
            var items = components.queryItems ?? []
            if let service = challenge.parameters["service"] { items.append(URLQueryItem(name: "service", value: service)) }
            for scope in (challenge.parameters["scope"] ?? scope).split(separator: " ") { items.append(URLQueryItem(name: "scope", value: String(scope))) }
            if let credentials { items.append(URLQueryItem(name: "account", value: credentials.username)) }
            components.queryItems = items
            guard let url = components.string else { throw LabError(.failed, "the registry's token realm '\(realm)' is not a URL") }
            var request = HTTPClientRequest(url: url)
            if let credentials { request.headers.add(name: "Authorization", value: credentials.basic) }
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: .seconds(30))
            } catch {
                throw LabError(.failed, "cannot get a token from \(realm): \(error)")
            }
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status == .ok else {
                throw LabError(.failed, "the token service \(realm) refused (\(response.status.code))" + (credentials == nil ? "; give credentials with --authfile" : ": are the credentials right?"))
            }
            struct Token: Decodable {
                var token: String?
                var access_token: String?
            }
            guard let token = try? JSONDecoder().decode(Token.self, from: Data(body.readableBytesView)), let value = token.token ?? token.access_token, !value.isEmpty else {
                throw LabError(.failed, "the token service \(realm) answered without a token")
            }
            authorizations.withLock { $0[scope] = "Bearer " + value }
        default:
            throw LabError(.failed, "the registry at \(base) asks for '\(challenge.scheme)' authentication, which the lab does not speak (Basic and Bearer)")
        }
    }

    /// The registry's error document, `{"errors": [{code, message, detail}]}`,
    /// as one line; or the status when the body is not one.
    static func errorText(_ status: HTTPResponseStatus, _ body: ByteBuffer?) -> (code: String?, text: String) {
        struct Document: Decodable {
            struct Entry: Decodable {
                var code: String
                var message: String?
            }
            var errors: [Entry]
        }
        if let body, let document = try? JSONDecoder().decode(Document.self, from: Data(body.readableBytesView)), let first = document.errors.first {
            let detail = String(buffer: body)
            return (first.code, "\(status.code) \(first.code)" + (first.message.map { ": " + $0 } ?? "")
                    + (detail.contains("no space left") ? " (no space left on the registry's storage)" : ""))
        }
        return (nil, "\(status.code) \(status.reasonPhrase)")
    }

    /// A response that is not what was asked: an error naming the call.
    func failure(_ response: HTTPClientResponse, _ call: Call) async -> LabError {
        let body = try? await response.body.collect(upTo: 64 << 10)
        let (code, text) = Self.errorText(response.status, body)
        switch (response.status, code) {
        case (.notFound, _) where call.what.hasPrefix("manifest"):
            return LabError(.invalidInput, "\(call.what): the registry at \(base) has no such image (\(text)); check the repository and tag")
        case (.unauthorized, _), (.forbidden, _):
            return LabError(.failed, "the registry at \(base) refused \(call.what) (\(text))" + (credentials == nil ? "; it may need credentials (--authfile)" : ": are the credentials right?"))
        case (.internalServerError, _) where String(buffer: body ?? ByteBuffer()).contains("no space left"):
            return LabError(.failed, "the registry at \(base) is out of space: \(call.what) failed (\(text))")
        default:
            return LabError(.failed, "\(call.what): the registry at \(base) answered \(text)")
        }
    }
}
