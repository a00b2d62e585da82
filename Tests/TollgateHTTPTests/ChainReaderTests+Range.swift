import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing
import TollgateCore
import TollgateX402

/// The spend's log looked for from the payment's time only, in windows a hosted node serves, against nodes that refuse
/// wide ranges, refuse everything, lie with other payments' logs, or hold fifty million blocks.
@Suite struct ChainReaderRangeTests {
    typealias Base = ChainReaderTests
    static let payee = "0x209693bc6afc0c5328ba36faf03c514ef312287c"
    static let paying = (payee: payee, amount: "10000")

    /// A chain of `head` blocks, one every `secondsPerBlock` from `genesis`, and the token's logs in it.
    struct Chain: Sendable {
        var head: Int64 = 1_000_000
        var genesis: Int64 = 1_700_000_000
        var secondsPerBlock: Int64 = 2
        var used = true
        /// The block of the nonce's AuthorizationUsed (or `topic`) log; nil: the node has none.
        var logBlock: Int64?
        var topic = EVMChainReaderProbe.usedTopic
        /// eth_getLogs wider than this many blocks is refused (a JSON-RPC error, as hosted nodes answer).
        var maxRange: Int64?
        var refusesEveryRange = false
        /// Logs the node returns with any window that holds their block, whatever the filter asked.
        var decoys: [(block: Int64, log: JSONValue)] = []

        func time(_ block: Int64) -> Int64 { genesis + block * secondsPerBlock }
    }

    /// The calls a node got: the method, and the block range of each eth_getLogs (nil for `earliest`).
    final class Calls: Sendable {
        let methods = Mutex<[String]>([])
        let ranges = Mutex<[(from: Int64?, to: Int64, refused: Bool)]>([])
        var count: [String: Int] { methods.withLock { Dictionary($0.map { ($0, 1) }, uniquingKeysWith: +) } }
    }

    static func quantity(_ block: Int64) -> JSONValue { .string("0x" + String(block, radix: 16)) }

    static func number(_ value: JSONValue?) -> Int64? {
        guard let text = value?.string, text.hasPrefix("0x") else { return nil }
        return Int64(text.dropFirst(2), radix: 16)
    }

    static func router(_ chain: Chain, calls: Calls) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 16)
            let call = try JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView))
            let method = call["method"]?.string ?? ""
            let params: [JSONValue] = call["params"].flatMap { if case .array(let items) = $0 { items } else { nil } } ?? []
            calls.methods.withLock { $0.append(method) }
            var result: JSONValue = .null
            switch method {
            case "eth_getBlockByNumber":
                let block = params.first?.string == "latest" ? chain.head : number(params.first)
                if let block, (0...chain.head).contains(block) {
                    result = .object(["number": quantity(block), "timestamp": quantity(chain.time(block))])
                }
            case "eth_call":
                #expect(params.last == quantity(chain.head))
                result = .string("0x" + String(repeating: "0", count: 63) + (chain.used ? "1" : "0"))
            case "eth_getLogs":
                let filter = params.first
                let from = filter?["fromBlock"]?.string == "earliest" ? nil : number(filter?["fromBlock"])
                let to = number(filter?["toBlock"]) ?? -1
                // Every read at or below the head read first.
                #expect(to <= chain.head)
                let width = to - (from ?? 0) + 1
                let refused = chain.refusesEveryRange || chain.maxRange.map { width > $0 } ?? false
                calls.ranges.withLock { $0.append((from, to, refused)) }
                if refused {
                    return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string:
                        #"{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"block range too large"}}"#)))
                }
                let window = (from ?? 0)...to
                var logs = chain.decoys.filter { window.contains($0.block) }.map(\.log)
                if let block = chain.logBlock, window.contains(block) {
                    logs.append(log(chain.topic, block: block))
                }
                result = .array(logs)
            case "eth_getTransactionReceipt":
                result = .object(["logs": .array([Base.authorizationLog(EVMChainReaderProbe.usedTopic),
                                                  Base.transfer(to: payee, amount: 10000)])])
            default:
                break
            }
            let answer = JSONValue.object(["jsonrpc": .string("2.0"), "id": .integer(1), "result": result])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: HeaderCodec.json(answer))))
        }
        return router
    }

    /// The token's log for a payer and nonce in `block`.
    static func log(_ topic: String, block: Int64, payer: String = Base.payer, nonce: String = Base.nonce,
                    transaction: String = Base.tx) -> JSONValue {
        guard case .object(var fields) = Base.authorizationLog(topic, payer: payer, nonce: nonce) else { return .null }
        fields["blockNumber"] = quantity(block)
        fields["transactionHash"] = .string(transaction)
        return .object(fields)
    }

    func state(_ chain: Chain, since: Int64?, paying: (payee: String, amount: String)? = Self.paying, maxLogRange: Int64 = 2_000)
        async throws -> (ChainAuthorization, Calls) {
        let calls = Calls()
        let result = try await Listener.with(Self.router(chain, calls: calls)) { port in
            try await EVMChainReader(url: "http://127.0.0.1:\(port)/", maxLogRange: maxLogRange)
                .authorization(asset: Base.asset, payer: Base.payer, nonce: Base.nonce, paying: paying, since: since, logger: Logger(label: "test"))
        }
        return (result, calls)
    }

    /// What the reader throws against `chain`, with the calls the node got.
    func failure(_ chain: Chain, since: Int64?, paying: (payee: String, amount: String)? = Self.paying) async -> (RailFailure?, Calls) {
        let calls = Calls()
        do {
            let result = try await Listener.with(Self.router(chain, calls: calls)) { port in
                try await EVMChainReader(url: "http://127.0.0.1:\(port)/")
                    .authorization(asset: Base.asset, payer: Base.payer, nonce: Base.nonce, paying: paying, since: since, logger: Logger(label: "test"))
            }
            Issue.record("the reader answered \(result)")
            return (nil, calls)
        } catch {
            return (error as? RailFailure, calls)
        }
    }

    /// A node that refuses more than 500 blocks at once (as some public endpoints do): the reader halves its windows
    /// and finds the log 5,000 blocks after the payment's time, never asking past the head it read first.
    @Test func aNodeRefusingWideRangesIsAskedInSmallerWindows() async throws {
        var chain = Chain(logBlock: 995_000, maxRange: 500)
        let since = chain.time(990_000) + EVMChainReader.clockSkewMarginSeconds
        let (result, calls) = try await state(chain, since: since)
        #expect(result == .used(transaction: Base.tx))
        let ranges = calls.ranges.withLock { $0 }
        #expect(ranges.first?.from == 990_000)
        #expect(ranges.filter(\.refused).count == 2)
        #expect(ranges.filter { !$0.refused }.allSatisfy { $0.to - $0.from! + 1 <= 500 })
        #expect(ranges.count == 13)
        #expect((calls.count["eth_getBlockByNumber"] ?? 0) <= 12)

        // Without a time, one call from the first block, as before: such a node refuses it and nothing is told.
        chain.maxRange = 500
        let (refused, earliest) = await failure(chain, since: nil)
        #expect(refused != nil)
        #expect(earliest.ranges.withLock { $0.map(\.from) } == [nil])
    }

    /// The search starts at the first block whose time is at or after the payment's time less the margin: a log in
    /// that very block is found, a log one block before it is not, and asked as a payment the reader then throws (the
    /// settlement stays unknown: a payer may have spent the nonce first, before the proof arrived), never used.
    @Test(arguments: [Int64(2), 12, 1])
    func theSearchStartsAtTheBlockOfThePaymentsTime(secondsPerBlock: Int64) async throws {
        var chain = Chain(head: 30_000_000, secondsPerBlock: secondsPerBlock)
        // 25 windows before the head: the whole range is searched.
        let boundary: Int64 = 29_950_001
        // The time falling between two blocks' times and right on one.
        for since in [chain.time(boundary) - 1, chain.time(boundary)].map({ $0 + EVMChainReader.clockSkewMarginSeconds }) {
            // At one block a second, a second before the block's time is the block before's.
            guard since - EVMChainReader.clockSkewMarginSeconds > chain.time(boundary - 1) else { continue }
            chain.logBlock = boundary
            let (found, calls) = try await state(chain, since: since)
            #expect(found == .used(transaction: Base.tx))
            #expect(calls.ranges.withLock { $0.first?.from } == boundary)
            #expect((calls.count["eth_getBlockByNumber"] ?? 0) <= 41)

            chain.logBlock = boundary - 1
            let (unknown, _) = await failure(chain, since: since)
            #expect(unknown?.message.contains("no AuthorizationUsed or AuthorizationCanceled log") == true, "\(String(describing: unknown))")
            // Asked for the payer, whose fresh nonce nothing spent before it signed, a whole range without the log is used.
            #expect(try await state(chain, since: since, paying: nil).0 == .used(transaction: nil))
        }
    }

    /// A node that refuses every window, however small: the reader gives up after its halvings and throws, as a
    /// payment and for the payer; never unused, used or used elsewhere.
    @Test func aNodeRefusingEveryWindowLeavesItUnknown() async {
        let chain = Chain(logBlock: 999_990, refusesEveryRange: true)
        for paying in [Self.paying, nil] as [(payee: String, amount: String)?] {
            let (refused, calls) = await failure(chain, since: chain.time(999_900), paying: paying)
            #expect(refused?.code == .badStatus, "\(String(describing: refused))")
            #expect(calls.count["eth_getLogs"] == 1 + EVMChainReader.maxRangeHalvings)
        }
    }

    /// A node answering, in the window, the logs of another payer, another nonce, another token, and this nonce's log
    /// said to be in a block outside the window asked for: none is taken for this payment's spend.
    @Test func aLyingNodesOtherLogsAreIgnored() async throws {
        let otherTx = "0x" + String(repeating: "66", count: 32)
        let other = "0x0000000000000000000000000000000000000777"
        guard case .object(var foreignToken) = Self.log(EVMChainReaderProbe.usedTopic, block: 999_950, transaction: otherTx) else { return }
        foreignToken["address"] = .string("0x0000000000000000000000000000000000000bad")
        let decoys: [(block: Int64, log: JSONValue)] = [
            (999_950, Self.log(EVMChainReaderProbe.usedTopic, block: 999_950, payer: other, transaction: otherTx)),
            (999_950, Self.log(EVMChainReaderProbe.canceledTopic, block: 999_950, nonce: "0x" + String(repeating: "0c", count: 32))),
            (999_950, .object(foreignToken)),
            (999_950, Self.log(EVMChainReaderProbe.canceledTopic, block: 5, transaction: otherTx)),
        ]
        var chain = Chain(decoys: decoys)
        let since = chain.time(999_000)
        let (unknown, _) = await failure(chain, since: since)
        #expect(unknown != nil)
        chain.logBlock = 999_990
        #expect(try await state(chain, since: since).0 == .used(transaction: Base.tx))
    }

    /// Fifty million blocks and a time of 0 (a caller's bug, or a nonce spent long ago): a bounded number of calls, then
    /// the reader throws, for the payer too (the rest of the range is never asked for).
    @Test func theCallsAreBoundedOnAHugeChain() async {
        let chain = Chain(head: 50_000_000, logBlock: 49_999_999)
        for paying in [Self.paying, nil] as [(payee: String, amount: String)?] {
            let (unknown, calls) = await failure(chain, since: 0, paying: paying)
            #expect(unknown?.message.contains("windows of blocks searched") == true, "\(String(describing: unknown))")
            let count = calls.count
            #expect((count["eth_getBlockByNumber"] ?? 0) <= 1 + EVMChainReader.maxBlockReads)
            #expect(count["eth_getLogs"] == EVMChainReader.maxLogWindows)
            #expect(calls.ranges.withLock { $0.first?.from } == 0)
        }
    }

    /// A chain whose head is before the payment's time (a node far behind) holds no log of it: nothing is asked, and a
    /// payment stays unknown.
    @Test func aHeadBeforeThePaymentsTimeTellsNothing() async {
        let chain = Chain(logBlock: 999_999)
        let (unknown, calls) = await failure(chain, since: chain.time(chain.head) + EVMChainReader.clockSkewMarginSeconds + 60)
        #expect(unknown != nil)
        #expect(calls.count["eth_getLogs"] == nil)
    }

    /// An unused nonce needs no search, however the time is given.
    @Test func anUnusedNonceAsksForNoLogs() async throws {
        let (result, calls) = try await state(Chain(used: false), since: 0)
        #expect(result == .unused(blockTime: Chain().time(1_000_000)))
        #expect(calls.methods.withLock { $0 } == ["eth_getBlockByNumber", "eth_call"])
    }
}
