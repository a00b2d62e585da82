import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import TollgateCore

/// Reads EIP-3009 authorization state from an EVM node over JSON-RPC, to resolve a settlement whose outcome
/// the facilitator could not tell: `authorizationState(authorizer, nonce)` says whether the nonce is spent,
/// and the token's `AuthorizationUsed` / `AuthorizationCanceled` log says how, with its transaction.
public struct EVMChainReader: Sendable {
    public let url: String
    public let timeout: Duration
    let client: HTTPClient

    static let authorizationStateSelector = Array(Keccak256.hash(Array("authorizationState(address,bytes32)".utf8)).prefix(4))
    static let usedTopic = HexString.prefixed(Keccak256.hash(Array("AuthorizationUsed(address,bytes32)".utf8)))
    static let canceledTopic = HexString.prefixed(Keccak256.hash(Array("AuthorizationCanceled(address,bytes32)".utf8)))
    static let transferTopic = HexString.prefixed(Keccak256.hash(Array("Transfer(address,address,uint256)".utf8)))

    /// The node as failures, logs and the audit name it: its scheme, host and port only (hosted nodes carry their API key
    /// in the path).
    public let shown: String

    /// Blocks one `eth_getLogs` asks for at most, when the search is bounded in time (`authorization(since:)`). A node
    /// that refuses a window (a JSON-RPC error: a range limit, too many results, its own timeout) gets it halved.
    public let maxLogRange: Int64

    /// 2,000 blocks: the widest range Alchemy serves without capping the answer, the range Chainstack advises for its
    /// nodes, and within QuickNode's paid limit (10,000); Infura limits results rather than blocks, which a filter on
    /// one payer and nonce never reaches. Nodes below it (public endpoints, free tiers) are met by halving, or by
    /// configuring less (`settlement.rpc_max_log_range`).
    public static let defaultMaxLogRange: Int64 = 2_000

    public init(url: String, timeout: Duration = .seconds(5), maxLogRange: Int64 = EVMChainReader.defaultMaxLogRange,
                client: HTTPClient = .noRedirects) {
        self.url = url
        self.shown = Self.shown(url)
        self.timeout = timeout
        self.maxLogRange = max(1, maxLogRange)
        self.client = client
    }

    /// The state of `nonce` for `payer` on the token `asset` (all `0x` hex), read at the node's latest block (an unused
    /// authorization carries that block's time). With `paying` (payee, atomic amount), a nonce spent is `used` only when
    /// the same call that spent it transferred that amount from the payer to the payee: the token's `Transfer` log right
    /// after its `AuthorizationUsed` log in the transaction's receipt (EIP-3009 marks the nonce, then transfers). The nonce
    /// alone says the payer's authorization with that nonce ran, not that it was this payment (a payer can sign another to
    /// itself with the same nonce and send it first), and a Transfer anywhere in the transaction could be another call's
    /// (one transfer made to look like the payment of several). Asked as a payment, a spent nonce whose log the node does
    /// not return is not guessed at: this throws. Throws `RailFailure` when the node cannot answer or contradicts itself.
    ///
    /// `since` (Unix seconds) is the earliest time this payment can have been spent: when the gateway recorded its intent
    /// to settle, when the client signed. Hosted nodes refuse `eth_getLogs` from the first block, so with it the log is
    /// looked for only from the first block at or after `since` less two minutes of clock skew (found by reading the
    /// times of at most 40 blocks) to the head, in windows of at most `maxLogRange` blocks, oldest first, halved when
    /// the node refuses one, 64 windows at most. A nonce spent before that time (the payer front-running the payment
    /// with another authorization of the same nonce before its proof arrived) has no log there: asked as a payment, this
    /// throws (the settlement stays unknown), never `unused`, `used` or `usedElsewhere`. A range longer than the windows
    /// allowed is not searched to its end, and throws too, as a payment or not. Asked for the payer, whose fresh nonce
    /// nothing can have spent before it signed, a whole range without the log is `used`, as without `since`. Nil
    /// asks from the first block in one call, which only a node of your own or an archive node serves.
    public func authorization(asset: String, payer: String, nonce: String, paying: (payee: String, amount: String)? = nil,
                              since: Int64? = nil, logger: Logger) async throws -> ChainAuthorization {
        guard let payerBytes = HexString.decodeAllowingPrefix(payer), payerBytes.count == 20, let nonceBytes = HexString.decodeAllowingPrefix(nonce),
              nonceBytes.count == 32, let assetBytes = HexString.decodeAllowingPrefix(asset), assetBytes.count == 20 else {
            throw RailFailure(.undecodable, "asset, payer or nonce is not an EVM value", authority: shown)
        }
        let authorization = Authorization(asset: HexString.prefixed(assetBytes), payer: Self.word(address: payerBytes),
                                          nonce: HexString.prefixed(nonceBytes))
        let head = try await call("eth_getBlockByNumber", [.string("latest"), .bool(false)], logger: logger)
        guard let block = head["number"]?.string, let headNumber = Self.quantity(block),
              let blockTime = head["timestamp"]?.string.flatMap(Self.quantity) else {
            throw RailFailure(.undecodable, "eth_getBlockByNumber answered no block number and timestamp", authority: shown)
        }
        let data = HexString.prefixed(Self.authorizationStateSelector + HexString.decodeAllowingPrefix(authorization.payer)! + nonceBytes)
        let state = try await call("eth_call", [.object(["to": .string(authorization.asset), "data": .string(data)]), .string(block)], logger: logger)
        guard let word = state.string.flatMap({ HexString.decodeAllowingPrefix($0) }), word.count == 32 else {
            throw RailFailure(.undecodable, "eth_call answered something that is not a bool", authority: shown)
        }
        guard word.last == 1 else { return .unused(blockTime: blockTime) }
        switch try await spendLog(authorization, head: headNumber, headTime: blockTime, since: since, logger: logger) {
        case .found(used: false, _):
            return .cancelled
        case .found(used: true, let transaction):
            guard let paying else { return .used(transaction: transaction) }
            guard let transaction else {
                throw RailFailure(.undecodable, "the node's AuthorizationUsed log names no transaction", authority: shown)
            }
            return try await transfers(in: transaction, authorization, to: paying.payee, amount: paying.amount, logger: logger)
                ? .used(transaction: transaction) : .usedElsewhere(transaction: transaction)
        case .none(coveredAll: false):
            throw RailFailure(.undecodable, "the nonce is spent but no AuthorizationUsed or AuthorizationCanceled log for it is in the "
                              + "\(Self.maxLogWindows) windows of blocks searched from the payment's time on; the rest is not asked for: "
                              + "what it paid cannot be told", authority: shown)
        case .none(coveredAll: true):
            guard paying == nil else {
                throw RailFailure(.undecodable, "the nonce is spent but the node returns no AuthorizationUsed or AuthorizationCanceled log for "
                                  + "it (spent before the payment's time, or a node that keeps no logs that old, or limits eth_getLogs): "
                                  + "what it paid cannot be told", authority: shown)
            }
            // Asked for the payer (its money moved or not, it signs nothing new), a spent nonce without its log is used.
            return .used(transaction: nil)
        }
    }

    /// One authorization as the token's logs name it: the token's address, the payer as a topic word, the nonce.
    struct Authorization {
        let asset: String
        let payer: String
        let nonce: String

        /// Whether `log` is the token's `topic` event (AuthorizationUsed, AuthorizationCanceled) for this payer and nonce.
        func isLog(_ log: JSONValue, topic: String) -> Bool {
            guard log["address"]?.string?.lowercased() == asset, case .array(let topics)? = log["topics"], topics.count == 3 else { return false }
            return topics.map { $0.string?.lowercased() } == [topic, payer, nonce]
        }
    }

    /// A node's scheme, host and port only.
    public static func shown(_ url: String) -> String {
        guard let parsed = URL(string: url), let scheme = parsed.scheme, let host = parsed.host else { return "(the chain node's URL)" }
        return "\(scheme)://\(host)" + (parsed.port.map { ":\($0)" } ?? "")
    }

    /// An address as a 32-byte ABI word (a log topic, a call argument), `0x` and lowercase hex.
    private static func word(address: [UInt8]) -> String { HexString.prefixed(Array(repeating: 0, count: 12) + address) }

    /// A JSON-RPC quantity (`0x` and hex digits, at most 15 of them), or nil.
    static func quantity(_ text: String) -> Int64? {
        guard text.hasPrefix("0x"), (2...17).contains(text.utf8.count) else { return nil }
        return Int64(text.dropFirst(2), radix: 16)
    }

    /// Whether the token's `Transfer` from the payer right after the authorization's `AuthorizationUsed` log in the receipt
    /// of `transaction` paid `amount` to `to` (false: it paid someone else, or another amount). Throws when there is no
    /// such Transfer to read.
    private func transfers(in transaction: String, _ authorization: Authorization, to: String, amount: String, logger: Logger) async throws -> Bool {
        guard let payee = HexString.decodeAllowingPrefix(to), payee.count == 20, let word = UInt256Word.fromDecimal(amount) else {
            throw RailFailure(.undecodable, "the payment's payee or amount is not an EVM value", authority: shown)
        }
        let receipt = try await call("eth_getTransactionReceipt", [.string(transaction)], logger: logger)
        guard case .array(let logs)? = receipt["logs"] else {
            throw RailFailure(.undecodable, "eth_getTransactionReceipt answered no logs for \(transaction)", authority: shown)
        }
        guard let used = logs.firstIndex(where: { authorization.isLog($0, topic: Self.usedTopic) }) else {
            throw RailFailure(.undecodable, "the receipt of \(transaction) holds no AuthorizationUsed log for the nonce the node's logs "
                              + "say it spent", authority: shown)
        }
        // The token's own Transfer from the payer must follow: anything else (no log after it, another event, another
        // token's) is a receipt this reader cannot read, never "nothing moved", which would have a paid client pay again.
        guard logs.indices.contains(used + 1), case let transfer = logs[used + 1], transfer["address"]?.string?.lowercased() == authorization.asset,
              case .array(let topics)? = transfer["topics"], topics.count == 3,
              topics[0].string?.lowercased() == Self.transferTopic, topics[1].string?.lowercased() == authorization.payer,
              let data = transfer["data"]?.string.flatMap(HexString.decodeAllowingPrefix), data.count == 32 else {
            throw RailFailure(.undecodable, "the receipt of \(transaction) holds no Transfer of the token from the payer right after its "
                              + "AuthorizationUsed log", authority: shown)
        }
        return topics[2].string?.lowercased() == Self.word(address: payee) && data == word
    }

    /// Whether `address` holds contract code (`eth_getCode`).
    public func hasCode(at address: String, logger: Logger) async throws -> Bool {
        guard let code = try await call("eth_getCode", [.string(address), .string("latest")], logger: logger).string else {
            throw RailFailure(.undecodable, "eth_getCode answered something that is not hex", authority: shown)
        }
        return !(HexString.decodeAllowingPrefix(code) ?? []).isEmpty
    }

    func call(_ method: String, _ params: [JSONValue], logger: Logger) async throws -> JSONValue {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let body: JSONValue = .object(["jsonrpc": .string("2.0"), "id": .integer(1), "method": .string(method), "params": .array(params)])
        request.body = .bytes(ByteBuffer(bytes: HeaderCodec.json(body)))
        let bytes: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(timeout.inNanoseconds), logger: logger)
            guard response.status == .ok else { throw RailFailure(.badStatus, "\(method) answered \(response.status.code)", authority: shown) }
            bytes = try await response.body.collect(upTo: 1 << 20)
        } catch let failure as RailFailure {
            throw failure
        } catch {
            throw RailFailure(.connectionLost, "\(method): \(error)", authority: shown)
        }
        guard let answer = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes.readableBytesView)) else {
            throw RailFailure(.undecodable, "\(method) answered something that is not JSON-RPC", authority: shown)
        }
        if let error = answer["error"], error != .null {
            throw RailFailure(.badStatus, "\(method) failed: \(error["message"]?.string ?? "error")", authority: shown)
        }
        guard let result = answer["result"] else { throw RailFailure(.undecodable, "\(method) answered no result", authority: shown) }
        return result
    }
}
