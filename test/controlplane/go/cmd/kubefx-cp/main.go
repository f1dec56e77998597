// Command kubefx-cp is the small helper of kubefx's test control plane.
//
//	kubefx-cp pki DIR                       writes a CA, serving and client certificates, and
//	                                        service-account keys into DIR
//	kubefx-cp user DIR NAME [GROUP...]       signs a client certificate for NAME with the CA in DIR
//	                                        (writes DIR/users/NAME.crt and .key)
//	kubefx-cp supervise -- PROGRAM ARGS...   runs PROGRAM, forwards SIGTERM/SIGINT to it, and
//	                                        stops it when this process's parent goes away, so a
//	                                        killed test run never leaves an orphaned server behind
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "pki":
		if len(os.Args) != 3 {
			usage()
		}
		err = writePKI(os.Args[2])
	case "user":
		if len(os.Args) < 4 {
			usage()
		}
		err = writeUser(os.Args[2], os.Args[3], os.Args[4:])
	case "supervise":
		if len(os.Args) < 4 || os.Args[2] != "--" {
			usage()
		}
		os.Exit(supervise(os.Args[3:]))
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubefx-cp:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kubefx-cp pki DIR | user DIR NAME [GROUP...] | supervise -- PROGRAM [ARGS...]")
	os.Exit(2)
}

// ---- PKI -------------------------------------------------------------------------------------

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n
}

func sign(template *x509.Certificate, parent *keyPair) (*keyPair, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	template.SerialNumber = newSerial()
	template.NotBefore = time.Now().Add(-time.Hour)
	template.NotAfter = time.Now().Add(10 * 365 * 24 * time.Hour)
	signer, signerCert := key, template
	if parent != nil {
		signer, signerCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, template, signerCert, &key.PublicKey, signer)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return &keyPair{cert, key}, der, nil
}

func writePair(dir, name string, kp *keyPair, der []byte) error {
	keyDER, err := x509.MarshalECPrivateKey(kp.key)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, name+".crt"), "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, name+".key"), "EC PRIVATE KEY", keyDER, 0o600)
}

func writePEM(path, kind string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), mode)
}

func loadCA(dir string) (*keyPair, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("%s: ca.crt or ca.key is not PEM", dir)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert, key}, nil
}

func clientTemplate(name string, groups []string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: groups},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

func writePKI(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "users"), 0o755); err != nil {
		return err
	}
	ca, caDER, err := sign(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "kubefx-test-ca"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}, nil)
	if err != nil {
		return err
	}
	if err := writePair(dir, "ca", ca, caDER); err != nil {
		return err
	}
	serving, servingDER, err := sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
	}, ca)
	if err != nil {
		return err
	}
	if err := writePair(dir, "serving", serving, servingDER); err != nil {
		return err
	}
	// The service-account token signing key: RSA, as every Kubernetes client expects RS256.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, "sa.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey), 0o600); err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, "sa.pub"), "PUBLIC KEY", pub, 0o644); err != nil {
		return err
	}
	for _, u := range []struct {
		file, name string
		groups     []string
	}{
		{"admin", "kubefx-admin", []string{"system:masters"}},
		{"controller-manager", "system:kube-controller-manager", []string{"system:masters"}},
		{"restricted", "kubefx-restricted", nil},
	} {
		kp, der, err := sign(clientTemplate(u.name, u.groups), ca)
		if err != nil {
			return err
		}
		if err := writePair(filepath.Join(dir, "users"), u.file, kp, der); err != nil {
			return err
		}
	}
	return nil
}

func writeUser(dir, name string, groups []string) error {
	ca, err := loadCA(dir)
	if err != nil {
		return err
	}
	kp, der, err := sign(clientTemplate(name, groups), ca)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "users"), 0o755); err != nil {
		return err
	}
	return writePair(filepath.Join(dir, "users"), name, kp, der)
}

// ---- supervise -------------------------------------------------------------------------------

func supervise(argv []string) int {
	parent := os.Getppid()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "kubefx-cp supervise:", err)
		return 127
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()

	stop := func(reason string) int {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			fmt.Fprintf(os.Stderr, "kubefx-cp supervise: %s did not stop within 10s of SIGTERM (%s); killing it\n", argv[0], reason)
			_ = cmd.Process.Kill()
			<-done
		}
		return 0
	}
	for {
		select {
		case err := <-done:
			if exit, ok := err.(*exec.ExitError); ok {
				return exit.ExitCode()
			}
			if err != nil {
				return 1
			}
			return 0
		case s := <-signals:
			return stop(s.String())
		case <-tick.C:
			if os.Getppid() != parent {
				return stop("parent process went away")
			}
		}
	}
}
