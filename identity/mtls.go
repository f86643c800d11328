package identity

import (
	"crypto/x509"
	"slices"
)

// certSubject builds the Subject of a verified client certificate chain
// (leaf first). The TLS layer has already verified the chain; this only
// names the caller: ID is the leaf's CN, else its first URI SAN, else its
// first DNS SAN; Roles are the leaf's OUs, sorted.
func certSubject(chain []*x509.Certificate) (Subject, error) {
	leaf := chain[0]
	if leaf == nil {
		return Subject{}, errBadCertificate
	}
	id := leaf.Subject.CommonName
	if id == "" && len(leaf.URIs) > 0 && leaf.URIs[0] != nil {
		id = leaf.URIs[0].String()
	}
	if id == "" && len(leaf.DNSNames) > 0 {
		id = leaf.DNSNames[0]
	}
	if id == "" {
		return Subject{}, errBadCertificate
	}
	// OUs of one RDN form a DER SET, whose order carries no meaning: sort
	// them so the roles are deterministic.
	var roles []string
	for _, ou := range leaf.Subject.OrganizationalUnit {
		if ou != "" {
			roles = append(roles, ou)
		}
	}
	slices.Sort(roles)
	roles = slices.Compact(roles)
	claims := map[string]any{
		"subject": leaf.Subject.String(),
		"issuer":  leaf.Issuer.String(),
		"serial":  leaf.SerialNumber.String(),
	}
	if len(leaf.DNSNames) > 0 {
		names := make([]any, len(leaf.DNSNames))
		for i, n := range leaf.DNSNames {
			names[i] = n
		}
		claims["dns_names"] = names
	}
	return Subject{
		Authenticated: true,
		ID:            id,
		Roles:         roles,
		Claims:        claims,
		Method:        "mtls",
	}, nil
}
