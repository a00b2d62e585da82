import HTTPTypes
import Testing
import TollgateCore

/// Only a trusted proxy may name the client, and a client cannot choose its own address by adding hops.
@Suite struct TrustedProxiesTests {
    static let proxies = TrustedProxies(["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"])!

    static func fields(xff: String? = nil, forwarded: String? = nil) -> HTTPFields {
        var fields = HTTPFields()
        if let xff { fields[HTTPField.Name("X-Forwarded-For")!] = xff }
        if let forwarded { fields[HTTPField.Name("Forwarded")!] = forwarded }
        return fields
    }

    @Test func anUntrustedPeerIsTheClientWhateverItSays() {
        #expect(Self.proxies.clientAddress(peer: "203.0.113.5", fields: Self.fields(xff: "198.51.100.1")) == "203.0.113.5")
        #expect(TrustedProxies.none.clientAddress(peer: "10.0.0.1", fields: Self.fields(xff: "198.51.100.1")) == "10.0.0.1")
    }

    @Test func aTrustedPeerNamesTheRightmostUntrustedHop() {
        // The client prepended a hop of its choice; the load balancer appended the address it saw.
        let fields = Self.fields(xff: "1.1.1.1, 198.51.100.1, 10.1.2.3")
        #expect(Self.proxies.clientAddress(peer: "10.0.0.2", fields: fields) == "198.51.100.1")
    }

    @Test func forwardedIsReadWithQuotesPortsAndIPv6() {
        let fields = Self.fields(forwarded: #"for=1.1.1.1, for="[2001:db9::5]:4711";proto=https, for="192.0.2.7:80""#)
        #expect(Self.proxies.clientAddress(peer: "10.9.9.9", fields: fields) == "2001:db9::5")
    }

    /// A balancer writes one field and passes the other on as the client sent it: a client sending the other field, with
    /// a new address each time, must not pick its address (and so its rate-limit bucket). Both present and naming other
    /// clients: neither is believed. Both naming the same client (a balancer that writes both): believed.
    @Test func twoFieldsNamingOtherClientsAreNeitherBelieved() {
        let spoofed = Self.fields(xff: "198.51.100.7", forwarded: "for=1.2.3.4")
        #expect(Self.proxies.clientAddress(peer: "10.0.0.2", fields: spoofed) == "10.0.0.2")
        let spoofedTheOtherWay = Self.fields(xff: "1.2.3.4, 198.51.100.7", forwarded: #"for="[2001:db9::5]""#)
        #expect(Self.proxies.clientAddress(peer: "10.0.0.2", fields: spoofedTheOtherWay) == "10.0.0.2")
        let agreeing = Self.fields(xff: "2001:db9::5", forwarded: #"for="[2001:db9::5]:443""#)
        #expect(Self.proxies.clientAddress(peer: "10.0.0.2", fields: agreeing) == "2001:db9::5")
        // A `Forwarded` naming no client (`proto=https` alone) says nothing against the other field.
        let protoOnly = Self.fields(xff: "198.51.100.7", forwarded: "proto=https")
        #expect(Self.proxies.clientAddress(peer: "10.0.0.2", fields: protoOnly) == "198.51.100.7")
        // One field alone is read as before.
        #expect(Self.proxies.clientAddress(peer: "10.0.0.2", fields: Self.fields(xff: "198.51.100.7")) == "198.51.100.7")
    }

    @Test func garbageFromATrustedPeerFallsBackToThePeer() {
        #expect(Self.proxies.clientAddress(peer: "10.0.0.2", fields: Self.fields(xff: "not-an-ip")) == "10.0.0.2")
        #expect(Self.proxies.clientAddress(peer: "10.0.0.2", fields: Self.fields()) == "10.0.0.2")
    }

    @Test func everyHopTrustedIsTheLeftmost() {
        #expect(Self.proxies.clientAddress(peer: "10.0.0.2", fields: Self.fields(xff: "10.0.0.9, 10.0.0.8")) == "10.0.0.9")
    }

    @Test func listsThatAreNotAddressesAreRefused() {
        #expect(TrustedProxies(["10.0.0.0/33"]) == nil)
        #expect(TrustedProxies(["proxy.internal"]) == nil)
        #expect(TrustedProxies(["::ffff:a00:1"])?.contains("10.0.0.1") == true)
    }

    /// A listener on `[::]` sees an IPv4 load balancer as `::ffff:10.0.0.2`: still the trusted IPv4 proxy (its forwarded
    /// client is used, and the per-network connection cap does not count it).
    @Test func anIPv4ProxySeenThroughAnIPv6SocketIsTrusted() {
        #expect(Self.proxies.contains("::ffff:10.0.0.2"))
        #expect(Self.proxies.clientAddress(peer: "::ffff:10.0.0.2", fields: Self.fields(xff: "198.51.100.7")) == "198.51.100.7")
        #expect(!Self.proxies.contains("::ffff:192.0.2.1"))
    }
}
