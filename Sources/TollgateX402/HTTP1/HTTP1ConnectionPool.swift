import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Keep-alive HTTP/1.1 connections to one peer, a facilitator or the upstream (TLS when its URL is `https`), each
/// carrying one request at a time: the gateway's own client on the paid path, where AsyncHTTPClient cost about twice
/// the CPU per call (its request and response streams, its pool's state machine, a flush of the head alone).
///
/// At most `maxConnections` are open at once; a call that finds none free waits for one, in order, until its
/// deadline. Idle connections are kept for `idleLifetime`. A call on a kept connection that the peer closed
/// meanwhile fails as "connection lost", never as "not sent" (unless the close was seen before a byte went out): a
/// connection is only known not to have carried the request when it could not be opened.
package final class HTTP1ConnectionPool: Sendable {
    /// Why a call failed, and whether the request may have been sent.
    package enum Failure: Error {
        /// No connection could be opened or was free in time (or the URL is not one): the request was certainly not sent.
        case notConnected(String)
        /// Every connection stayed busy until the deadline: not sent, and not the peer's failure either.
        case noneFree(String)
        /// The connection was opened or reused, then the exchange failed.
        case exchange(HTTP1ExchangeError)
    }

    /// How long an idle connection is kept when the peer does not say (`Keep-Alive: timeout=N`, then a second
    /// less than it says, at most 50 s): below the 5 s after which Node and uvicorn close theirs, so that a request
    /// rarely meets a close on its way (it would end as "connection lost", the settlement left to the reconciler).
    static let idleLifetime = TimeAmount.seconds(4)
    static let longestIdleLifetime = 50

    private enum Lease: Sendable {
        case kept(any Channel)
        /// A slot to open a new connection in.
        case open
    }

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Lease, any Error>
        var timer: Scheduled<Void>?
    }

    private struct State {
        var idle: [(channel: any Channel, until: NIODeadline)] = []
        /// Connections open or being opened, the idle ones included.
        var open = 0
        /// In arrival order: the first is served first (`removeFirst` in constant time).
        var waiters = CircularBuffer<Waiter>()
        var lastWaiter: UInt64 = 0
    }

    package let origin: HTTPOrigin?
    package let maxConnections: Int
    /// What the peer is called in failures ("the facilitator", "the upstream").
    let peer: String
    private let group: any EventLoopGroup
    private let tls: Result<NIOSSLContext, any Error>?
    private let state = NIOLockedValueBox(State())

    private let resolver: (@Sendable (any EventLoop) -> any Resolver & Sendable)?
    /// The event loop of the group the calling code runs on, if any (`takeFree`).
    private let ownLoop: @Sendable () -> (any EventLoop)?

    /// - Parameters:
    ///   - tlsConfiguration: for `https` (the system's trust roots, certificates and host names checked).
    ///   - resolver: the names' resolver for a connection's event loop (the system's by default; tests give their own).
    ///   - peer: what the peer is called in failures.
    ///   - ownLoop: the loop of `group` the calling code runs on, nil when it runs on none (tests choose one).
    package init(baseURL: String, peer: String = "the facilitator", maxConnections: Int = 64,
                 group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                 tlsConfiguration: TLSConfiguration = .makeClientConfiguration(),
                 resolver: (@Sendable (any EventLoop) -> any Resolver & Sendable)? = nil,
                 ownLoop: (@Sendable () -> (any EventLoop)?)? = nil) {
        origin = HTTPOrigin(baseURL: baseURL)
        self.peer = peer
        self.maxConnections = max(1, maxConnections)
        self.group = group
        self.resolver = resolver
        self.ownLoop = ownLoop ?? { [group] in
            let loop = group.any()
            return loop.inEventLoop ? loop : nil
        }
        tls = origin?.secure == true ? Result { try NIOSSLContext(configuration: tlsConfiguration) } : nil
    }

    /// Sends one request and reads its answer whole, within `deadline` (waiting for a connection and connecting included).
    /// `path` is the target under the base URL's path, with its own query if any (`/verify`, `/data?day=1`).
    package func call(method: HTTPMethod, path: String, headers: HTTPHeaders, body: [UInt8]?, deadline: NIODeadline,
                      maxResponseBytes: Int) async throws(Failure) -> HTTP1Answer {
        guard let origin else { throw .notConnected("\(peer)'s URL is not an http(s) URL with a host") }
        // Requests whose framing a kept connection cannot carry are never written. NIO writes a TRACE's body unframed
        // (TRACE has none), so the peer would read it as the next request: a request smuggled ahead of another
        // client's. After a CONNECT, the connection would be a tunnel, not HTTP.
        if method == .CONNECT || (method == .TRACE && !(body ?? []).isEmpty) {
            throw .notConnected("a \(method.rawValue) request\(method == .TRACE ? " with a body" : "") is not forwarded")
        }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: origin.target(path), headers: headers)
        head.headers.replaceOrAdd(name: "Host", value: origin.hostField)
        if let basic = origin.basicAuthorization, !head.headers.contains(name: "Authorization") {
            head.headers.add(name: "Authorization", value: basic)
        }
        if let body { head.headers.replaceOrAdd(name: "Content-Length", value: String(body.count)) }
        // A kept connection closed before the request went out (the peer's close was still on its way) is
        // passed over for the next one; a new connection that closes so is one that could not be used at all.
        let own = ownLoop()
        while true {
            let lease = try await lease(by: deadline, own: own)
            let channel: any Channel
            switch lease {
            case .kept(let kept): channel = kept
            case .open:
                do { channel = try await connect(origin, on: own ?? group.next(), deadline: deadline) } catch {
                    giveBack(nil)
                    throw error
                }
            }
            do {
                let answer = try await exchange(on: channel, head: head, body: body, deadline: deadline, maxResponseBytes: maxResponseBytes)
                let lifetime = answer.keepAliveSeconds.map { TimeAmount.seconds(Int64(min($0 - 1, Self.longestIdleLifetime))) } ?? Self.idleLifetime
                if answer.reusable, lifetime > .zero {
                    giveBack(channel, keptFor: lifetime)
                } else {
                    giveBack(nil, closing: channel)
                }
                return answer
            } catch {
                giveBack(nil, closing: channel)
                guard error.code == .notSent else { throw .exchange(error) }
                if case .open = lease { throw .notConnected(error.detail) }
            }
        }
    }

    /// A kept connection, a slot to open one, or a wait for either until `deadline` or until the calling task is
    /// cancelled (a request whose client went away leaves the queue at once rather than at its deadline).
    private func lease(by deadline: NIODeadline, own: (any EventLoop)?) async throws(Failure) -> Lease {
        if let lease = takeFree(own: own) { return lease }
        let id = state.withLockedValue { state in
            state.lastWaiter += 1
            return state.lastWaiter
        }
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    // Checked again under the lock that registers the waiter, so that a connection given back in between
                    // is not missed.
                    var stale: [any Channel] = []
                    defer { for channel in stale { channel.close(promise: nil) } }
                    let granted: Lease? = state.withLockedValue { state in
                        let free: Lease?
                        (free, stale) = Self.takeFree(&state, maxConnections: maxConnections, own: own)
                        if let free { return free }
                        let timer = group.next().scheduleTask(deadline: deadline) { [self] in expire(id, because: "before the deadline") }
                        state.waiters.append(Waiter(id: id, continuation: continuation, timer: timer))
                        return nil
                    }
                    if let granted { return continuation.resume(returning: granted) }
                    // A cancellation that came before the waiter was registered found nothing to remove.
                    if Task.isCancelled { expire(id, because: "before the call was cancelled") }
                }
            } onCancel: {
                expire(id, because: "before the call was cancelled")
            }
        } catch {
            throw .noneFree("no connection to \(peer) was free \(error) (\(maxConnections) busy)")
        }
    }

    /// Kept connections still open (for tests).
    var openIdleConnections: Int { state.withLockedValue { $0.idle.count { $0.channel.isActive } } }

    private func takeFree(own: (any EventLoop)?) -> Lease? {
        let (lease, stale) = state.withLockedValue { Self.takeFree(&$0, maxConnections: maxConnections, own: own) }
        for channel in stale { channel.close(promise: nil) }
        return lease
    }

    /// A kept connection still open and within its lifetime, else a slot to open one if fewer than `maxConnections`
    /// are; and the kept connections that are past it, to be closed once the lock is let go.
    ///
    /// A call running on one of the pool's event loops (`own`; the server commands run every task on them) gets a kept
    /// connection of that loop first, then any kept one, and a new one is opened on its loop. On its own loop the
    /// exchange and its answer stay on the caller's thread; a connection of another loop wakes that loop's thread to
    /// send, and the task goes on there. A kept connection of another loop is still better than a new one: a new
    /// connection to a remote facilitator costs round trips, and over TLS a handshake.
    private static func takeFree(_ state: inout State, maxConnections: Int, own: (any EventLoop)?) -> (Lease?, stale: [any Channel]) {
        let now = NIODeadline.now()
        var stale: [any Channel] = []
        /// A kept connection past use: to be closed, and no longer counted as open.
        func retire(_ channel: any Channel) {
            stale.append(channel)
            state.open -= 1
        }
        // The oldest are at the bottom: they expire first (when every lifetime is the same; the checks below hold anyway).
        while let oldest = state.idle.first, oldest.until <= now || !oldest.channel.isActive {
            retire(state.idle.removeFirst().channel)
        }
        if let own, let index = state.idle.lastIndex(where: { $0.channel.eventLoop === own && $0.channel.isActive && now < $0.until }) {
            return (.kept(state.idle.remove(at: index).channel), stale)
        }
        while let kept = state.idle.popLast() {
            if kept.channel.isActive, now < kept.until { return (.kept(kept.channel), stale) }
            retire(kept.channel)
        }
        guard state.open < maxConnections else { return (nil, stale) }
        state.open += 1
        return (.open, stale)
    }

    /// Ends a lease: `kept` goes to the first waiter or back to the idle ones for `keptFor`; otherwise the slot is
    /// freed (`closing` is closed) and goes to the first waiter.
    private func giveBack(_ kept: (any Channel)?, keptFor lifetime: TimeAmount = .zero, closing: (any Channel)? = nil) {
        closing?.close(promise: nil)
        let woken: (Waiter, Lease)? = state.withLockedValue { state in
            let lease: Lease
            if let kept {
                guard !state.waiters.isEmpty else {
                    state.idle.append((kept, .now() + lifetime))
                    return nil
                }
                lease = .kept(kept)
            } else {
                guard !state.waiters.isEmpty else {
                    state.open -= 1
                    return nil
                }
                lease = .open
            }
            return (state.waiters.removeFirst(), lease)
        }
        guard let (waiter, lease) = woken else { return }
        waiter.timer?.cancel()
        waiter.continuation.resume(returning: lease)
    }

    /// Ends a wait without a connection; `when` says why ("before the deadline").
    private func expire(_ id: UInt64, because when: String) {
        let waiter = state.withLockedValue { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.timer?.cancel()
        waiter?.continuation.resume(throwing: NoConnection(when: when))
    }

    /// Why a wait for a connection ended without one.
    private struct NoConnection: Error, CustomStringConvertible {
        var when: String
        var description: String { when }
    }

    private func exchange(on channel: any Channel, head: HTTPRequestHead, body: [UInt8]?, deadline: NIODeadline,
                          maxResponseBytes: Int) async throws(HTTP1ExchangeError) -> HTTP1Answer {
        let buffer = body.map { channel.allocator.buffer(bytes: $0) }
        let promise = channel.eventLoop.makePromise(of: HTTP1Answer.self)
        channel.eventLoop.execute {
            guard let handler = try? channel.pipeline.syncOperations.handler(type: HTTP1ExchangeHandler.self) else {
                return promise.fail(HTTP1ExchangeError(code: .notSent, detail: "the connection was closed before the request was sent"))
            }
            handler.start(head: head, body: buffer, deadline: deadline, maxResponseBytes: maxResponseBytes, promise: promise)
        }
        do {
            return try await promise.futureResult.get()
        } catch {
            throw error as? HTTP1ExchangeError ?? HTTP1ExchangeError(code: .failed, detail: "\(error)")
        }
    }

    private func connect(_ origin: HTTPOrigin, on loop: any EventLoop, deadline: NIODeadline) async throws(Failure) -> any Channel {
        let remaining = deadline - .now()
        guard remaining > .zero else { throw .notConnected("no time left to connect") }
        let context: NIOSSLContext?
        switch tls {
        case .none: context = nil
        case .success(let made)?: context = made
        case .failure(let error)?: throw .notConnected("TLS could not be set up: \(error)")
        }
        let serverName = origin.hostIsAddress ? nil : origin.host
        let peer = peer
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(remaining)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let context { try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName)) }
                    try pipeline.addHTTPClientHandlers()
                    try pipeline.addHandler(HTTP1ExchangeHandler(on: channel.eventLoop, readyBy: deadline, waitsForHandshake: context != nil,
                                                                  peer: peer))
                }
            }
        if let resolver { bootstrap = bootstrap.resolver(resolver(loop)) }
        do {
            let channel = try await bootstrap.connect(host: origin.host, port: origin.port).get()
            do {
                // The handler of the connection that won (a name's addresses are tried in parallel; the others closed).
                try await channel.eventLoop.flatSubmit {
                    do { return try channel.pipeline.syncOperations.handler(type: HTTP1ExchangeHandler.self).readyFuture }
                    catch { return channel.eventLoop.makeFailedFuture(error) }
                }.get()
            } catch {
                channel.close(promise: nil)
                throw error
            }
            return channel
        } catch {
            throw .notConnected("\(error)")
        }
    }
}
