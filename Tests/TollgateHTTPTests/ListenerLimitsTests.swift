import Foundation
import Glibc
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import HTTPTypes
import Testing
@testable import TollgateHTTP
import TollgateConfiguration
import TollgateCore

/// What a flood of connections can hold: the listener's connections are capped, and a connection idle (nothing sent,
/// a request left half sent) or whose client leaves its answer unread is closed, so each holds its memory for a bounded time.
@Suite struct ListenerLimitsTests {
    /// A client that opens connections and sends nothing: each is closed after the idle timeout; beyond the cap, a new
    /// connection is not served until one closes.
    @Test func idleConnectionsAreClosedAndTheCapHoldsNewOnesBack() async throws {
        let (_, facilitator) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: facilitator, extraTop: "max_client_connections: 2\nclient_idle_timeout_seconds: 1") { stack in
            let port = try #require(URL(string: stack.gatewayURL)?.port)
            let idle = [try RawConnection(port: port), try RawConnection(port: port)]
            try await Task.sleep(for: .milliseconds(200))
            let third = try RawConnection(port: port)
            try third.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            // Both connections the listener holds are idle: the third waits in the backlog, unanswered.
            #expect(try await third.receive(waitingAtMost: 0.5).isEmpty, "a connection beyond the cap was served")
            // The idle ones are closed after a second; then the third is accepted and answered.
            for connection in idle { #expect(try await connection.receive(waitingAtMost: 10).isEmpty, "closed without a word") }
            for connection in idle { #expect(connection.closedByPeer) }
            let answer = try await third.receive(waitingAtMost: 10)
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
        }
    }

    /// One host opening connections: past its share, each new one is closed as soon as it is accepted, so it cannot take
    /// the listener's whole cap; once one of its own closes, it may open another.
    @Test func oneNetworkHoldsItsShareOfConnectionsAtMost() async throws {
        let (_, facilitator) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: facilitator, extraTop: "max_client_connections_per_ip: 2") { stack in
            let port = try #require(URL(string: stack.gatewayURL)?.port)
            var held = [try RawConnection(port: port), try RawConnection(port: port)]
            try await Task.sleep(for: .milliseconds(200))
            let beyond = try RawConnection(port: port)
            #expect(try await beyond.receive(waitingAtMost: 5).isEmpty)
            #expect(beyond.closedByPeer, "a third connection from the same network is closed")
            // The two held are served.
            try held[0].send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(try await held[0].receive(waitingAtMost: 10).hasPrefix("HTTP/1.1 200"))
            held.removeFirst()
            try await Task.sleep(for: .milliseconds(200))
            let next = try RawConnection(port: port)
            try next.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(try await next.receive(waitingAtMost: 10).hasPrefix("HTTP/1.1 200"), "a place freed is taken again")
        }
    }

    /// A trusted proxy carries many clients' connections: never counted; the table forgets a network once its last
    /// connection closes.
    @Test func trustedProxiesAreNotCountedAndClosedNetworksAreForgotten() throws {
        let peers = PeerConnections(maxPerPeer: 1, exempt: try #require(TrustedProxies(["10.0.0.0/8"])))
        #expect(peers.opened(from: "10.1.2.3") == nil)
        #expect(peers.opened(from: "10.1.2.3") == nil)
        let first = try #require(peers.opened(from: "2001:db8::1"))
        #expect(first.allowed)
        // Another address of the same /64 is the same network.
        #expect(peers.opened(from: "2001:db8::2")?.allowed == false)
        peers.closed(first.prefix)
        peers.closed(first.prefix)
        #expect(peers.count(from: "2001:db8::1") == 0)
        #expect(peers.opened(from: "2001:db8::3")?.allowed == true)
    }

    /// A body sent a byte at a time, each well inside the idle timeout: the connection is closed once the request has
    /// taken longer than `client_request_timeout_seconds` to arrive.
    @Test func aRequestDribbledInIsCutOffAtItsDeadline() async throws {
        let (_, facilitator) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: facilitator, extraTop: "client_request_timeout_seconds: 1\nclient_idle_timeout_seconds: 30") { stack in
            let port = try #require(URL(string: stack.gatewayURL)?.port)
            let slow = try RawConnection(port: port)
            try slow.send("POST /jobs/render HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
            let started = ContinuousClock.now
            var cut = false
            while !cut, ContinuousClock.now - started < .seconds(8) {
                try await Task.sleep(for: .milliseconds(250))
                cut = (try? slow.send(" ")) == nil || slow.closedByPeer
                if !cut { _ = try await slow.receive(waitingAtMost: 0.01) }
            }
            #expect(cut, "a request still arriving after its deadline keeps its connection")
            #expect(ContinuousClock.now - started < .seconds(6))
        }
    }

    /// The request deadline in the handler's own terms: a head whose request never ends is cut at the deadline; a
    /// request read whole sets no timer; a request pipelined behind an answer still being written gets its time from
    /// that answer's end, so the answer in flight (perhaps a paid one) is never cut for it.
    @Test func theRequestDeadlineCountsFromTheHeadOrFromTheAnswerAhead() throws {
        func connected() throws -> EmbeddedChannel {
            let channel = EmbeddedChannel(handler: RequestDeadlineHandler(timeout: .seconds(60)))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            return channel
        }
        let head = HTTPRequestPart.head(HTTPRequest(method: .post, scheme: "http", authority: "gateway", path: "/jobs/render"))
        func read(_ channel: EmbeddedChannel, _ parts: HTTPRequestPart...) {
            for part in parts { channel.pipeline.fireChannelRead(NIOAny(part)) }
            channel.pipeline.fireChannelReadComplete()
        }

        let whole = try connected()
        read(whole, head, .end(nil))
        whole.embeddedEventLoop.advanceTime(by: .seconds(600))
        #expect(whole.isActive, "a request read whole has no deadline left")

        let headOnly = try connected()
        read(headOnly, head)
        headOnly.embeddedEventLoop.advanceTime(by: .seconds(59))
        read(headOnly, .body(ByteBuffer(string: "{")))
        #expect(headOnly.isActive)
        headOnly.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!headOnly.isActive, "a body still arriving at the deadline loses its connection")

        let pipelined = try connected()
        read(pipelined, head, .end(nil), head)
        pipelined.embeddedEventLoop.advanceTime(by: .seconds(300))
        #expect(pipelined.isActive, "the answer to the first request is still being written")
        try pipelined.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try pipelined.writeOutbound(HTTPResponsePart.end(nil))
        pipelined.embeddedEventLoop.advanceTime(by: .seconds(59))
        #expect(pipelined.isActive)
        pipelined.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!pipelined.isActive, "the second request's time ran from the first answer's end")
    }

    /// The configuration reads both limits, with their defaults and ranges.
    @Test func theLimitsAreConfigurable() throws {
        let base = "listen: 127.0.0.1:0\nupstream: {url: \"http://127.0.0.1:1\"}\nsecrets: [{id: t1, env: T}]\nroutes: [{path: /x, resource: x}]\n"
        let (defaults, _) = try ConfigurationLoader.parse(base)
        #expect(defaults.maxClientConnections == 1024 && defaults.clientIdleTimeoutSeconds == 60)
        #expect(defaults.maxClientConnectionsPerIP == 128 && defaults.clientRequestTimeoutSeconds == 60)
        let (set, _) = try ConfigurationLoader.parse(base + "max_client_connections: 10\nclient_idle_timeout_seconds: 5\n")
        #expect(set.maxClientConnections == 10 && set.clientIdleTimeoutSeconds == 5)
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(base + "max_client_connections: 0\n") }
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(base + "client_idle_timeout_seconds: 7200\n") }
    }

    /// A client that stops reading its answer (the bytes waiting in the socket's buffers do not shrink) loses its
    /// connection after the timeout; one that reads again in time, or keeps reading a large answer slowly while the
    /// channel stays unwritable throughout, keeps it.
    @Test func aConnectionWhoseAnswerIsNotReadIsClosed() throws {
        let channel = EmbeddedChannel(handler: UnreadAnswerHandler(timeout: .seconds(60)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        // A large answer waits unflushed: the bytes the channel reports as waiting.
        func unreadAnswer(_ bytes: Int) { channel.write(ByteBuffer(repeating: 0x61, count: bytes), promise: nil) }
        unreadAnswer(3_000_000)
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        channel.embeddedEventLoop.advanceTime(by: .seconds(59))
        #expect(channel.isActive)
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        channel.embeddedEventLoop.advanceTime(by: .seconds(120))
        #expect(channel.isActive, "read again in time")

        // Read slowly but steadily: unwritable all along, less waiting at each look.
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        channel.flush()
        unreadAnswer(2_000_000)
        channel.embeddedEventLoop.advanceTime(by: .seconds(61))
        #expect(channel.isActive, "progress since the first look")
        channel.flush()
        unreadAnswer(1_000_000)
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive, "progress since the second look")

        // Then nothing is read for a whole period.
        channel.embeddedEventLoop.advanceTime(by: .seconds(61))
        #expect(!channel.isActive, "an answer left unread for the timeout closes the connection")
    }
}

/// A blocking TCP connection on loopback, for what an HTTP client library hides (a connection that sends nothing).
final class RawConnection: @unchecked Sendable {
    private let socket: Int32
    private(set) var closedByPeer = false

    init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(socket) }

    func send(_ text: String) throws {
        let sent = text.utf8CString.withUnsafeBufferPointer { Glibc.send(socket, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
        guard sent == text.utf8.count else { throw POSIXError(.EPIPE) }
    }

    /// What arrives within `seconds` (up to 64 KiB); empty when nothing did, or the peer closed (`closedByPeer`). Waits on
    /// a thread of its own: a blocking wait on one of the few threads Swift concurrency runs on would stall the gateway
    /// under test, which runs on them too.
    func receive(waitingAtMost seconds: Double) async throws -> String {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: self.receiveBlocking(seconds)) }
        }
    }

    private func receiveBlocking(_ seconds: Double) -> String {
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let count = recv(socket, &buffer, buffer.count, 0)
        if count == 0 { closedByPeer = true }
        if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return "" }
        if count < 0 && errno == ECONNRESET { closedByPeer = true }
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
    }
}
