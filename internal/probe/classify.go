package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// Classify maps an error from a dial, read, write or HTTP round trip to an
// outcome and a short detail. A nil error is OK.
func Classify(err error) (Outcome, string) {
	if err == nil {
		return OK, ""
	}
	if o, reason, ok := classifyTLS(err); ok {
		return o, reason
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused, "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return Reset, "connection reset by peer"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return NoRoute, "no route to host"
	case errors.Is(err, syscall.ENETUNREACH):
		return NoRoute, "network is unreachable"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return Error, "cannot assign requested address (no free local port)"
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return DNSError, "name lookup timed out: " + dnsErr.Name
		}
		return DNSError, dnsErr.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return Timeout, "no answer before the timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Timeout, "no answer before the timeout"
	}
	return Error, err.Error()
}

// classifyTLS recognises TLS handshake failures and says why in words an
// engineer acts on.
func classifyTLS(err error) (Outcome, string, bool) {
	var (
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalid    x509.CertificateInvalidError
		verifyErr  *tls.CertificateVerificationError
		recordErr  tls.RecordHeaderError
		alertErr   tls.AlertError
		echReject  *tls.ECHRejectionError
		handshakeE = errors.As(err, &verifyErr)
	)
	switch {
	case errors.As(err, &unknownCA):
		reason := "certificate signed by an unknown authority"
		if unknownCA.Cert != nil {
			reason += " (issuer " + unknownCA.Cert.Issuer.String() + "; a TLS-inspecting proxy or firewall re-signs certificates like this)"
		}
		return TLSError, reason, true
	case errors.As(err, &hostErr):
		return TLSError, "certificate name mismatch: " + hostErr.Error(), true
	case errors.As(err, &invalid):
		switch invalid.Reason {
		case x509.Expired:
			return TLSError, "certificate expired or not yet valid: " + invalid.Error(), true
		}
		return TLSError, "invalid certificate: " + invalid.Error(), true
	case handshakeE:
		return TLSError, "certificate verification failed: " + verifyErr.Err.Error(), true
	case errors.As(err, &recordErr):
		return TLSError, "server did not answer with TLS (plain text on a TLS port, or a proxy page)", true
	case errors.As(err, &alertErr):
		return TLSError, "server sent TLS alert: " + alertErr.Error(), true
	case errors.As(err, &echReject):
		return TLSError, "encrypted client hello rejected", true
	}
	msg := err.Error()
	if strings.Contains(msg, "server gave HTTP response to HTTPS client") {
		return TLSError, "server did not answer with TLS (plain HTTP on a TLS port, or a proxy page)", true
	}
	if strings.Contains(msg, "tls: ") || strings.Contains(msg, "TLS handshake") {
		if errors.Is(err, io.EOF) || strings.Contains(msg, "EOF") {
			return TLSError, "connection closed during the TLS handshake", true
		}
		if errors.Is(err, syscall.ECONNRESET) {
			return Reset, "connection reset during the TLS handshake", true
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			return Timeout, "TLS handshake timed out", true
		}
		return TLSError, msg, true
	}
	return "", "", false
}
