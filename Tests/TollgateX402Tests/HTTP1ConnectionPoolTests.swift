import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Testing
import TollgateCore
@testable import TollgateX402

/// The facilitator's connections carry money: an answer must only ever be read as the answer to its own request, and a
/// call must say truthfully whether its request may have been sent (only then is another facilitator never asked).
@Suite struct HTTP1ConnectionPoolTests {
    static func body(_ answer: HTTP1Answer) -> String { String(buffer: answer.body) }

    // A generous deadline where the deadline is not what is tested: the whole suite runs at once on two cores.
    func call(_ pool: HTTP1ConnectionPool, _ body: String = "{}", within: TimeAmount = .seconds(30),
              limit: Int = 1 << 16) async throws(HTTP1ConnectionPool.Failure) -> HTTP1Answer {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        return try await pool.call(method: .POST, path: "/verify", headers: headers, body: Array(body.utf8),
                                   deadline: .now() + within, maxResponseBytes: limit)
    }

    @Test func oneConnectionCarriesRequestsOneAfterAnother() async throws {
        let server = try await ScriptedHTTPServer { .bytes(ScriptedHTTPServer.ok(#"{"n":\#($0.index)}"#)) }
        let pool = HTTP1ConnectionPool(baseURL: "http://127.0.0.1:\(server.port)/facilitator/")
        for n in 0..<3 {
            let answer = try await call(pool, #"{"ask":\#(n)}"#)
            #expect(answer.status == .ok && Self.body(answer) == #"{"n":\#(n)}"#)
        }
        #expect(server.connections == 1)
        let requests = server.requests
        #expect(requests.map(\.head.uri) == Array(repeating: "/facilitator/verify", count: 3))
        #expect(requests.map(\.body) == [#"{"ask":0}"#, #"{"ask":1}"#, #"{"ask":2}"#])
        #expect(requests.allSatisfy { $0.head.headers["Host"] == ["127.0.0.1:\(server.port)"] })
        #expect(requests.allSatisfy { $0.head.headers["Content-Length"] == ["9"] })
        try await server.stop()
    }

    /// A facilitator that answers after the deadline: its answer must not be read as the next request's.
    @Test func anAnswerAfterTheDeadlineIsNeverTakenForTheNextRequests() async throws {
        // The second request is still waiting for its answer when the first one's arrives. A deadline of 1 s, not less:
        // it covers the connect too, which a loaded machine may make slow.
        let server = try await ScriptedHTTPServer { request in
            switch request.index {
            case 0: .after(.seconds(3), ScriptedHTTPServer.ok(#"{"late":true}"#))
            case 1: .after(.milliseconds(3500), ScriptedHTTPServer.ok(#"{"n":1}"#))
            default: .bytes(ScriptedHTTPServer.ok(#"{"n":\#(request.index)}"#))
            }
        }
        let pool = HTTP1ConnectionPool(baseURL: "http://127.0.0.1:\(server.port)")
        do {
            _ = try await call(pool, within: .seconds(1))
            Issue.record("an answer was taken after the deadline")
        } catch .exchange(let error) {
            #expect(error.code == .timedOut)
        }
        let next = try await call(pool)
        #expect(Self.body(next) == #"{"n":1}"#)
        let third = try await call(pool)
        #expect(Self.body(third) == #"{"n":2}"#)
        #expect(server.connections >= 2)
        try await server.stop()
    }

    /// Two answers to one request (or bytes no request asked for): the extra one is never the next request's answer.
    @Test func anAnswerNoRequestAskedForClosesTheConnection() async throws {
        let server = try await ScriptedHTTPServer { request in
            request.index == 0 ? .bytes(ScriptedHTTPServer.ok(#"{"isValid":false}"#) + ScriptedHTTPServer.ok(#"{"isValid":true}"#))
                : .bytes(ScriptedHTTPServer.ok(#"{"n":\#(request.index)}"#))
        }
        let pool = HTTP1ConnectionPool(baseURL: "http://127.0.0.1:\(server.port)")
        #expect(Self.body(try await call(pool)) == #"{"isValid":false}"#)
        for _ in 0..<3 {
            let answer = try await call(pool)
            #expect(Self.body(answer) != #"{"isValid":true}"#)
            #expect(Self.body(answer).hasPrefix(#"{"n":"#))
        }
        try await server.stop()
    }

    /// A header value that would split the request (the configuration refuses it; the library's caller may not) is
    /// refused by the encoder: the call fails at once, nothing reaches the server.
    @Test func aRequestThatCannotBeWrittenFailsAtOnceAndSendsNothing() async throws {
        let server = try await ScriptedHTTPServer { _ in .bytes(ScriptedHTTPServer.ok("{}")) }
        let pool = HTTP1ConnectionPool(baseURL: "http://127.0.0.1:\(server.port)")
        var headers = HTTPHeaders()
        headers.add(name: "X-Token", value: "a\r\nX-Injected: 1")
        do {
            _ = try await pool.call(method: .POST, path: "/verify", headers: headers, body: Array("{}".utf8),
                                    deadline: .now() + .seconds(30), maxResponseBytes: 1024)
            Issue.record("a request with a split header was sent")
        } catch .exchange(let error) {
            #expect(error.code == .failed)
        }
        #expect(server.requests.isEmpty)
        #expect(Self.body(try await call(pool)) == "{}")
        try await server.stop()
    }

    @Test func anAnswerThatClosesItsConnectionIsNotKept() async throws {
        let server = try await ScriptedHTTPServer { request in
            request.index == 0 ? .bytes(ScriptedHTTPServer.ok("{}", extraHeaders: "Connection: close\r\n")) : .bytes(ScriptedHTTPServer.ok("{}"))
        }
        let pool = HTTP1ConnectionPool(baseURL: "http://127.0.0.1:\(server.port)")
        _ = try await call(pool)
        _ = try await call(pool)
        #expect(server.requests.map(\.connection) == [1, 2])
        try await server.stop()
    }

    /// A kept connection the facilitator closed while it was idle is not used for the next request.
    @Test func aConnectionClosedWhileIdleIsPassedOver() async throws {
        let server = try await ScriptedHTTPServer { .bytesThenClose(ScriptedHTTPServer.ok(#"{"n":\#($0.index)}"#)) }
        let pool = HTTP1ConnectionPool(baseURL: "http://127.0.0.1:\(server.port)")
        for n in 0..<3 {
            #expect(Self.body(try await call(pool)) == #"{"n":\#(n)}"#)
            // The close has reached the client (calls that race it are the "connection lost" of the type's comment).
            let deadline = ContinuousClock.now + .seconds(30)
            while pool.openIdleConnections > 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(server.requests.map(\.connection) == [1, 2, 3])
        try await server.stop()
    }

    @Test func anAnswerLargerThanTheLimitIsRefusedAndAChunkedOneReadWhole() async throws {
        let big = String(repeating: "x", count: 5000)
        let server = try await ScriptedHTTPServer { request in
            request.index == 0 ? .bytes(ScriptedHTTPServer.ok(big))
                : .bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n5\r\n\":12}\r\n0\r\n\r\n")
        }
        let pool = HTTP1ConnectionPool(baseURL: "http://127.0.0.1:\(server.port)")
        do {
            _ = try await call(pool, limit: 4096)
            Issue.record("an answer over the limit was read")
        } catch .exchange(let error) {
            #expect(error.code == .answerTooLarge)
        }
        #expect(Self.body(try await call(pool, limit: 4096)) == #"{"a":12}"#)
        try await server.stop()
    }

    /// Only a connection that could not be made means the request was not sent; a close after it was sent may have
    /// come after the facilitator acted on it.
    @Test func notSentOnlyWhenNoConnectionWasMade() async throws {
        let server = try await ScriptedHTTPServer { _ in .close }
        let pool = HTTP1ConnectionPool(baseURL: "http://127.0.0.1:\(server.port)")
        do {
            _ = try await call(pool)
            Issue.record("a closed connection was taken for an answer")
        } catch .exchange(let error) {
            #expect(error.code == .closed)
        }
        #expect(server.requests.count == 1)
        try await server.stop()
        let nobody = HTTP1ConnectionPool(baseURL: "http://127.0.0.1:9")  // the discard port: nothing listens
        await #expect(throws: HTTP1ConnectionPool.Failure.self) { _ = try await call(nobody) }
        do {
            _ = try await call(nobody)
        } catch .notConnected {
        } catch {
            Issue.record("a refused connection was reported as \(error)")
        }
        for url in ["ftp://127.0.0.1/", "http:///verify", "http://127.0.0.1/#part", "not a URL"] {
            do {
                _ = try await call(HTTP1ConnectionPool(baseURL: url))
                Issue.record("\(url) was called")
            } catch .notConnected {
            } catch {
                Issue.record("\(url): \(error)")
            }
        }
    }

    /// The connections are bounded: a call that finds none free waits for one, and one that waits past its deadline
    /// was never sent (`noneFree`, which the facilitator client reports as not ready: not the facilitator's failure).
    @Test func callsBeyondTheBoundWaitForAFreeConnection() async throws {
        let server = try await ScriptedHTTPServer { request in
            // The last two are held 10 s: the third call must find both connections busy, even on a loaded machine.
            .after(.milliseconds(request.index < 6 ? 150 : 10_000), ScriptedHTTPServer.ok(#"{"n":\#(request.index)}"#))
        }
        let pool = HTTP1ConnectionPool(baseURL: "http://127.0.0.1:\(server.port)", maxConnections: 2)
        let answers = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<6 { group.addTask { Self.body(try await call(pool)) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(answers).count == 6)
        #expect(server.connections == 2)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<2 { group.addTask { _ = try? await call(pool) } }
            group.addTask {
                // Both connections carry a request the server holds for 10 s.
                let deadline = ContinuousClock.now + .seconds(30)
                while server.requests.count < 8, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
                do throws(HTTP1ConnectionPool.Failure) {
                    _ = try await call(pool, within: .milliseconds(100))
                    Issue.record("a third call had a connection")
                } catch .noneFree {
                } catch {
                    Issue.record("waiting for a connection ended as \(error)")
                }
            }
        }
        #expect(server.requests.count == 8)
        try await server.stop()
    }
}

extension HTTP1ConnectionPoolTests {
    /// A call whose task is cancelled while it waits for a connection (its client went away) leaves the queue at once,
    /// sends nothing and holds no place: the next call gets the connection when it is free. (Had it stayed in the queue,
    /// it would have been given the connection when the first answer came, and sent.)
    @Test func aCancelledWaitLeavesTheQueueAtOnceAndSendsNothing() async throws {
        let server = try await ScriptedHTTPServer { request in
            // The first is held 10 s: the second call must still be waiting when it is cancelled, even on a loaded machine.
            .after(.milliseconds(request.index == 0 ? 10_000 : 0), ScriptedHTTPServer.ok(#"{"n":\#(request.index)}"#))
        }
        let pool = HTTP1ConnectionPool(baseURL: "http://127.0.0.1:\(server.port)", maxConnections: 1)
        let first = Task { try await call(pool) }
        let deadline = ContinuousClock.now + .seconds(30)
        while server.requests.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        let waiting = Task { try await call(pool) }
        try await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        switch await waiting.result {
        case .success: Issue.record("a cancelled call was sent")
        case .failure(HTTP1ConnectionPool.Failure.noneFree(let reason)): #expect(reason.contains("cancelled"))
        case .failure(let other): Issue.record("a cancelled wait ended as \(other)")
        }
        #expect(Self.body(try await first.value) == #"{"n":0}"#)
        #expect(Self.body(try await call(pool)) == #"{"n":1}"#)
        #expect(server.requests.count == 2 && server.connections == 1)
        try await server.stop()
    }

    /// A name with several addresses is tried on all of them at once (Happy Eyeballs); the attempts that lose are
    /// closed, and that must not fail the one that won.
    @Test func aNameWithAnAddressThatRefusesStillConnects() async throws {
        let server = try await ScriptedHTTPServer { _ in .bytes(ScriptedHTTPServer.ok("{}")) }
        let port = server.port
        let pool = HTTP1ConnectionPool(baseURL: "http://facilitator.test:\(port)", resolver: { loop in
            FixedResolver(loop: loop, v6: [try! SocketAddress(ipAddress: "::1", port: port)],
                          v4: [try! SocketAddress(ipAddress: "127.0.0.1", port: port)])
        })
        for _ in 0..<2 { #expect(try await call(pool).status == .ok) }
        #expect(server.requests.allSatisfy { $0.head.headers["Host"] == ["facilitator.test:\(port)"] })
        try await server.stop()
    }

    /// A facilitator that read a `/settle` and closed the connection may have settled: that is never "unreachable",
    /// so the settlement is not sent to another facilitator.
    @Test func aSettleReadThenDroppedMayHaveReachedTheFacilitator() async throws {
        let server = try await ScriptedHTTPServer { _ in .close }
        let facilitator = HTTPFacilitator(baseURL: "http://127.0.0.1:\(server.port)", timeout: .seconds(30))
        do {
            _ = try await facilitator.settle(X402.FacilitatorRequest(body: Array("{}".utf8)), logger: .init(label: "test"))
            Issue.record("a dropped connection was taken for a settlement")
        } catch let failure as RailFailure {
            #expect(failure.code == .connectionLost && failure.reachedAuthority)
        }
        #expect(server.requests.count == 1)
        try await server.stop()
        let nobody = HTTPFacilitator(baseURL: "http://127.0.0.1:9", timeout: .seconds(30))
        do {
            _ = try await nobody.settle(X402.FacilitatorRequest(body: Array("{}".utf8)), logger: .init(label: "test"))
        } catch let failure as RailFailure {
            #expect(failure.code == .unreachable && !failure.reachedAuthority)
        }
    }

    /// An idle connection is kept no longer than the facilitator says it keeps it (`Keep-Alive: timeout=N`, less a
    /// second), so a request rarely meets the facilitator's close on its way.
    @Test func anIdleConnectionIsKeptNoLongerThanTheFacilitatorKeepsIt() async throws {
        #expect(HTTP1ExchangeHandler.keepAliveTimeout(["Keep-Alive": "timeout=5, max=100"]) == 5)
        #expect(HTTP1ExchangeHandler.keepAliveTimeout(["Keep-Alive": "max=100"]) == nil)
        let server = try await ScriptedHTTPServer { _ in .bytes(ScriptedHTTPServer.ok("{}", extraHeaders: "Keep-Alive: timeout=1\r\n")) }
        let pool = HTTP1ConnectionPool(baseURL: "http://127.0.0.1:\(server.port)")
        _ = try await call(pool)
        _ = try await call(pool)
        #expect(server.requests.map(\.connection) == [1, 2])
        try await server.stop()
    }

    /// A hosted facilitator's credentials may be written in its URL: a query is sent after each endpoint's path,
    /// `user:password@` as Basic authorization, and neither ever appears in the name logs and the audit log show.
    @Test func credentialsInTheURLAreSentAndNeverShown() async throws {
        let server = try await ScriptedHTTPServer { _ in .bytes("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n") }
        let url = "http://gw:s3cret@127.0.0.1:\(server.port)/x402/?api_key=k3y"
        // A deadline far past the answer: the full test suite on two cores can hold a task several seconds.
        let facilitator = HTTPFacilitator(baseURL: url, timeout: .seconds(30))
        #expect(facilitator.name == "http://127.0.0.1:\(server.port)/x402")
        // A settlement intent an earlier version recorded under the full URL still finds its facilitator.
        let members = FacilitatorPool([.init(facilitator: facilitator, networks: ["eip155:84532"], breaker: .init())])
        #expect(members.member(named: url)?.name == facilitator.name)
        #expect(members.member(named: "http://127.0.0.1:1/x402") == nil)
        do {
            _ = try await facilitator.verify(X402.FacilitatorRequest(body: Array("{}".utf8)), logger: .init(label: "test"))
            Issue.record("a 503 was taken for a verdict")
        } catch let failure as RailFailure {
            #expect(failure.code == .badStatus)
            #expect(!failure.description.contains("s3cret") && !failure.description.contains("k3y"))
        }
        let request = try #require(server.requests.first)
        #expect(request.head.uri == "/x402/verify?api_key=k3y")
        #expect(request.head.headers["Authorization"] == ["Basic " + Data("gw:s3cret".utf8).base64EncodedString()])
        // An Authorization header of the configuration wins over the URL's credentials.
        let configured = HTTPFacilitator(baseURL: url, timeout: .seconds(30),
                                         headers: .init(verify: [("Authorization", "Bearer t0ken")]))
        _ = try? await configured.verify(X402.FacilitatorRequest(body: Array("{}".utf8)), logger: .init(label: "test"))
        #expect(server.requests.last?.head.headers["Authorization"] == ["Bearer t0ken"])
        try await server.stop()
        #expect(HTTPOrigin(baseURL: "https://[::1]:8443/f")?.hostField == "[::1]:8443")
        #expect(HTTPOrigin(baseURL: "https://[::1]/f")?.host == "::1")
        #expect(HTTPOrigin(baseURL: "HTTPS://x402.org/facilitator/")?.shown == "https://x402.org/facilitator")
    }

    /// Over TLS the certificate and the host name are checked before a byte of the request is written: a facilitator
    /// that cannot prove who it is never sees the request, and the call says so (not sent, so another may be asked).
    @Test func overTLSWhoTheFacilitatorIsIsCheckedBeforeAnythingIsSent() async throws {
        let (certificate, key) = try SelfSignedCertificate.make(for: "localhost")
        let serverContext = try NIOSSLContext(configuration: .makeServerConfiguration(
            certificateChain: [.certificate(certificate)], privateKey: .privateKey(key)))
        let server = try await ScriptedHTTPServer(tls: serverContext) { _ in .bytes(ScriptedHTTPServer.ok(#"{"tls":true}"#)) }
        var trusting = TLSConfiguration.makeClientConfiguration()
        trusting.trustRoots = .certificates([certificate])
        let refused: [(String, HTTP1ConnectionPool)] = [
            ("an unknown certificate", HTTP1ConnectionPool(baseURL: "https://localhost:\(server.port)")),
            ("another host name", HTTP1ConnectionPool(baseURL: "https://127.0.0.1:\(server.port)", tlsConfiguration: trusting)),
        ]
        for (what, pool) in refused {
            do {
                _ = try await call(pool)
                Issue.record("\(what) was trusted")
            } catch .notConnected {
            } catch {
                Issue.record("\(what): \(error)")
            }
        }
        #expect(server.requests.isEmpty)
        let pool = HTTP1ConnectionPool(baseURL: "https://localhost:\(server.port)", tlsConfiguration: trusting)
        #expect(Self.body(try await call(pool)) == #"{"tls":true}"#)
        #expect(Self.body(try await call(pool)) == #"{"tls":true}"#)
        #expect(server.requests.count == 2)
        try await server.stop()
    }
}

/// A certificate and key made by `openssl` for one host name, for a TLS server in a test.
enum SelfSignedCertificate {
    struct Missing: Error, CustomStringConvertible {
        var description: String { "openssl is needed to make a test certificate (apt-get install openssl; scripts/setup.sh does)" }
    }

    static func make(for host: String) throws -> (NIOSSLCertificate, NIOSSLPrivateKey) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = directory.appendingPathComponent("cert.pem").path, key = directory.appendingPathComponent("key.pem").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                             "-keyout", key, "-out", certificate, "-days", "2", "-subj", "/CN=\(host)", "-addext", "subjectAltName=DNS:\(host)"]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        guard openssl.terminationStatus == 0 else { throw Missing() }
        return (try NIOSSLCertificate(file: certificate, format: .pem), try NIOSSLPrivateKey(file: key, format: .pem))
    }
}

/// A resolver with fixed answers, for a name that resolves to an IPv6 and an IPv4 address.
struct FixedResolver: Resolver, Sendable {
    let loop: any EventLoop
    let v6: [SocketAddress]
    let v4: [SocketAddress]
    func initiateAQuery(host: String, port: Int) -> EventLoopFuture<[SocketAddress]> { loop.makeSucceededFuture(v4) }
    func initiateAAAAQuery(host: String, port: Int) -> EventLoopFuture<[SocketAddress]> { loop.makeSucceededFuture(v6) }
    func cancelQueries() {}
}
