import HTTPTypes
import NIOCore
import NIOHTTP1
import Testing
import TollgateCore
import TollgateGateway

/// The backend's answer is what a paid request delivers: it must be the answer to that request and no other (a backend
/// that answers twice, a `HEAD` whose answer declares a length it does not send, an interim `100 Continue`), read
/// whole or refused, and every failure an `upstream_unavailable` the journey releases the claim on.
@Suite struct HTTPUpstreamTests {
    static func request(_ method: HTTPRequest.Method = .get, _ target: String = "/data", fields: HTTPFields = [:],
                        body: String = "") -> UpstreamRequest {
        UpstreamRequest(method: method, target: target, headerFields: fields, body: Array(body.utf8))
    }

    static func upstream(_ server: ScriptedHTTPServer, path: String = "", timeout: Double = 30, limit: Int = 1 << 16) -> HTTPUpstream {
        HTTPUpstream(baseURL: "http://127.0.0.1:\(server.port)\(path)", timeoutSeconds: timeout, maxResponseBytes: limit)
    }

    @Test func aRequestGoesUnderTheBasePathWithItsQueryFieldsAndBody() async throws {
        let server = try await ScriptedHTTPServer { _ in
            .bytes("HTTP/1.1 201 Created\r\nContent-Length: 2\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Trace: t\r\n\r\nok")
        }
        var fields = HTTPFields()
        fields.append(HTTPField(name: HTTPField.Name("X-Tag")!, value: "one"))
        fields.append(HTTPField(name: HTTPField.Name("X-Tag")!, value: "two"))
        fields[.contentType] = "application/json"
        let answer = try await Self.upstream(server, path: "/api/").send(Self.request(.post, "/records?day=1&kind=a", fields: fields, body: #"{"q":1}"#))
        #expect(answer.status.code == 201 && answer.body == Array("ok".utf8))
        #expect(answer.headerFields[values: .setCookie] == ["a=1", "b=2"])
        #expect(answer.headerFields[HTTPField.Name("X-Trace")!] == "t")
        let seen = try #require(server.requests.first)
        #expect(seen.head.method == .POST && seen.head.uri == "/api/records?day=1&kind=a")
        #expect(seen.head.headers["X-Tag"] == ["one", "two"])
        #expect(seen.head.headers["Host"] == ["127.0.0.1:\(server.port)"])
        #expect(seen.head.headers["Content-Length"] == ["7"] && seen.body == #"{"q":1}"#)
        try await server.stop()
    }

    /// The answer to `HEAD` declares the length of a body it does not send: read as one, the next answer on the
    /// connection would become this one's body and the next request would get a later one.
    @Test func theAnswerToHEADHasNoBodyAndTheNextAnswerIsTheNextRequests() async throws {
        let server = try await ScriptedHTTPServer { request in
            request.head.method == .HEAD ? .bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
                : .bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        }
        let upstream = Self.upstream(server)
        let head = try await upstream.send(Self.request(.head))
        #expect(head.status == .ok && head.body.isEmpty)
        let get = try await upstream.send(Self.request())
        #expect(get.body == Array("hello".utf8))
        #expect(server.connections == 1)
        try await server.stop()
    }

    @Test func anInterimAnswerIsSkipped() async throws {
        let server = try await ScriptedHTTPServer { _ in
            .bytes("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal")
        }
        let answer = try await Self.upstream(server).send(Self.request(.post, body: "{}"))
        #expect(answer.status == .ok && answer.body == Array("real".utf8))
        try await server.stop()
    }

    /// A backend that answers one request twice in the same bytes (an answer smuggled after the first): the extra answer
    /// is never delivered, and never to another client's request. (One that comes later, while the next request waits,
    /// cannot be told from that request's answer: HTTP/1.1 pairs them by order alone.)
    @Test func aSecondAnswerInTheSameBytesIsNeverTheNextRequests() async throws {
        let server = try await ScriptedHTTPServer { request in
            request.index == 0 ? .bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled")
                : .bytes("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nmine")
        }
        let upstream = Self.upstream(server)
        #expect(try await upstream.send(Self.request()).body == Array("first".utf8))
        for _ in 0..<3 {
            let answer = try await upstream.send(Self.request())
            #expect(answer.body == Array("mine".utf8))
        }
        try await server.stop()
    }

    /// NIO writes a TRACE's body without framing (TRACE has none): the backend would read it as a request of its own,
    /// smuggled ahead of the next client's on the kept connection. Such a request, and a CONNECT (after which the
    /// connection is a tunnel), are refused before anything is written.
    @Test func aTRACEWithABodyOrACONNECTIsNeverWritten() async throws {
        let server = try await ScriptedHTTPServer { _ in .bytes("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nmine") }
        let upstream = Self.upstream(server)
        let smuggled = "POST /admin HTTP/1.1\r\nHost: b\r\nContent-Length: 9999\r\n\r\n"
        let trace = await #expect(throws: TollgateError.self) { try await upstream.send(Self.request(.trace, body: smuggled)) }
        #expect(trace?.code == .upstreamUnavailable && trace?.message.contains("TRACE request with a body") == true)
        let connect = await #expect(throws: TollgateError.self) { try await upstream.send(Self.request(.connect, "b:443")) }
        #expect(connect?.code == .upstreamUnavailable)
        #expect(try await upstream.send(Self.request(.trace)).body == Array("mine".utf8))
        #expect(try await upstream.send(Self.request()).body == Array("mine".utf8))
        #expect(server.requests.map(\.head.method) == [.TRACE, .GET] && server.requests.allSatisfy { $0.body.isEmpty })
        try await server.stop()
    }

    /// The operator's query in the base URL comes first: a backend that reads the first of a repeated parameter reads it,
    /// whatever a client adds.
    @Test func aBaseQueryComesBeforeTheRequestsOwn() async throws {
        let server = try await ScriptedHTTPServer { _ in .bytes("HTTP/1.1 204 No Content\r\n\r\n") }
        let upstream = HTTPUpstream(baseURL: "http://127.0.0.1:\(server.port)/api?api_key=K", timeoutSeconds: 30, maxResponseBytes: 1024)
        for target in ["/d?api_key=X&b=1", "/d", "/d?"] { _ = try await upstream.send(Self.request(.get, target)) }
        #expect(server.requests.map(\.head.uri) == ["/api/d?api_key=K&api_key=X&b=1", "/api/d?api_key=K", "/api/d?api_key=K"])
        try await server.stop()
    }

    /// After a `101 Switching Protocols` the connection is no longer HTTP: the request fails, the connection is closed,
    /// and the next request gets its own answer on a new one.
    @Test func aSwitchOfProtocolsEndsTheConnection() async throws {
        let server = try await ScriptedHTTPServer { request in
            request.index == 0 ? .bytes("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
                : .bytes("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nmine")
        }
        let upstream = Self.upstream(server)
        let switched = await #expect(throws: TollgateError.self) { try await upstream.send(Self.request()) }
        #expect(switched?.code == .upstreamUnavailable && switched?.message.contains("switched protocols") == true)
        #expect(try await upstream.send(Self.request()).body == Array("mine".utf8))
        #expect(server.requests.map(\.connection) == [1, 2])
        try await server.stop()
    }

    @Test func anAnswerEndedByItsCloseIsReadWholeAndItsConnectionNotKept() async throws {
        let server = try await ScriptedHTTPServer { .bytesThenClose("HTTP/1.1 200 OK\r\n\r\nuntil close \($0.index)") }
        let upstream = Self.upstream(server)
        #expect(try await upstream.send(Self.request()).body == Array("until close 0".utf8))
        #expect(try await upstream.send(Self.request()).body == Array("until close 1".utf8))
        #expect(server.requests.map(\.connection) == [1, 2])
        try await server.stop()
    }

    /// `Content-Length` on the methods that carry a body, even an empty one; none on a `GET` without one.
    @Test func anEmptyBodyIsSentAsOneOnlyWhereTheMethodCarriesOne() async throws {
        let server = try await ScriptedHTTPServer { _ in .bytes("HTTP/1.1 204 No Content\r\n\r\n") }
        let upstream = Self.upstream(server)
        #expect(try await upstream.send(Self.request(.post)).status == .noContent)
        #expect(try await upstream.send(Self.request(.get)).status == .noContent)
        #expect(server.requests.map { $0.head.headers["Content-Length"] } == [["0"], []])
        try await server.stop()
    }

    @Test func anAnswerTooLargeOrTooLateOrNoBackendIsUpstreamUnavailable() async throws {
        let server = try await ScriptedHTTPServer { request in
            request.index == 0 ? .bytes("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + String(repeating: "x", count: 100))
                : .after(.seconds(4), "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate")
        }
        let large = await #expect(throws: TollgateError.self) { try await Self.upstream(server, limit: 64).send(Self.request()) }
        #expect(large?.code == .upstreamUnavailable && large?.message.contains("larger than 64 bytes") == true)
        let late = await #expect(throws: TollgateError.self) { try await Self.upstream(server, timeout: 1).send(Self.request()) }
        #expect(late?.code == .upstreamUnavailable && late?.message.contains("did not answer in time") == true)
        try await server.stop()
        let nobody = HTTPUpstream(baseURL: "http://127.0.0.1:9", timeoutSeconds: 5, maxResponseBytes: 1024)
        let refused = await #expect(throws: TollgateError.self) { try await nobody.send(Self.request()) }
        #expect(refused?.code == .upstreamUnavailable && refused?.message.contains("no connection to the upstream") == true)
    }
}
