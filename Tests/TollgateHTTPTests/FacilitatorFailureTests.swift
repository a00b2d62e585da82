import Foundation
import Hummingbird
import Logging
import NIOCore
import Testing
import TollgateCore
import TollgateDevFacilitator
import TollgateSQLite
import TollgateX402

/// A facilitator that supports the network but answers /verify and /settle badly.
enum BrokenFacilitator {
    enum Mode: String, CaseIterable, Sendable {
        /// `twoMinds`: an answer that says one thing to one JSON parser and the opposite to another (a repeated key).
        case serverError, garbage, redirect, slow, twoMinds
    }

    static func router(_ mode: Mode) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/supported") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(string: #"{"kinds":[{"x402Version":2,"scheme":"exact","network":"eip155:84532"}],"extensions":[],"signers":{}}"#)))
        }
        for path in ["/verify", "/settle"] {
            router.post(RouterPath(path)) { _, _ in
                switch mode {
                case .serverError:
                    return Response(status: .internalServerError)
                case .garbage:
                    return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "<html>oops")))
                case .redirect:
                    return Response(status: .permanentRedirect, headers: [.location: "http://127.0.0.1:1/verify"])
                case .slow:
                    try await Task.sleep(for: .seconds(4))
                    return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: #"{"isValid":true}"#)))
                case .twoMinds:
                    let answer = path == "/verify" ? #"{"isValid":false,"isValid":true}"#
                        : #"{"success":false,"transaction":"0x01","network":"eip155:84532","\u0073uccess":true}"#
                    return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: answer)))
                }
            }
        }
        return router
    }
}

@Suite struct FacilitatorFailureTests {
    @Test(arguments: BrokenFacilitator.Mode.allCases)
    func eachFailureIsATransportFailure(mode: BrokenFacilitator.Mode) async throws {
        try await Listener.with(BrokenFacilitator.router(mode)) { port in
            // A generous timeout where an answer is expected (a first connection while the whole suite runs in parallel
            // took more than 3 s); 2 s, well under its 4 s, only for the slow mode's calls, whose timeout is the point.
            let generous = HTTPFacilitator(baseURL: "http://127.0.0.1:\(port)", timeout: .seconds(30))
            let supported = try await generous.supported(logger: Listener.quiet)
            #expect(supported.kinds.map(\.network) == ["eip155:84532"])
            let facilitator = mode == .slow ? HTTPFacilitator(baseURL: "http://127.0.0.1:\(port)", timeout: .seconds(2)) : generous
            let request = X402.FacilitatorRequest(body: Array("{}".utf8))
            do {
                _ = try await facilitator.verify(request, logger: Listener.quiet)
                Issue.record("\(mode) was taken for a verdict")
            } catch let failure as RailFailure {
                let expected: RailFailure.Code = switch mode {
                case .serverError, .redirect: .badStatus
                case .garbage, .twoMinds: .undecodable
                case .slow: .timeout
                }
                #expect(failure.code == expected)
            }
            // A settlement answer that cannot be read one way only is not taken for a settlement either.
            guard mode == .garbage || mode == .twoMinds else { return }
            await #expect(throws: RailFailure.self) { _ = try await facilitator.settle(request, logger: Listener.quiet) }
        }
    }

    @Test(arguments: [BrokenFacilitator.Mode.serverError, .garbage, .slow, .twoMinds])
    func theClientGets503AndNothingIsSettled(mode: BrokenFacilitator.Mode) async throws {
        // 2 s: the slow mode's answers (after 4 s) must time out.
        try await LiveStack.with(facilitator: { BrokenFacilitator.router(mode) }, facilitatorTimeout: 2) { stack in
            let url = stack.gatewayURL + "/datasets/prices"
            let terms = try #require(try await Exchange.get(url).terms)
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            let proof = HeaderCodec.encode(try payer.pay(terms, now: Int64(Date().timeIntervalSince1970)))
            let answer = try await Exchange.get(url, [("PAYMENT-SIGNATURE", proof)])
            #expect(answer.status == 503)
            #expect(answer.headers["retry-after"] == "5")
            #expect(answer.body.contains("facilitator_unavailable"))
            #expect(!answer.body.contains("trader_id"))
            let events = try await stack.store.events(correlationId: try #require(answer.correlationId))
            #expect(events.last?.event.reason == "facilitator_unavailable")
            #expect(!events.contains { $0.event.stage == .forward })
            // After a transport failure the facilitator is out of rotation: the next paid retry fails fast.
            #expect(!stack.pool.isReady(network: "eip155:84532"))
        }
    }
}
