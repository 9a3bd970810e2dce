//go:build linux

package vm

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// fakeELF returns an x86-64 ELF header followed by n bytes of noise.
func fakeELF(t *testing.T, n int) []byte {
	t.Helper()
	h := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT), Ehsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, h); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range n {
		b.WriteByte(byte(r.IntN(4))) // compressible, not trivially so
	}
	return b.Bytes()
}

// fakeBzImage wraps payload as a bzImage would: setup sectors holding the
// boot-protocol header, then the protected-mode code, whose payload_offset
// bytes precede the compressed kernel.
func fakeBzImage(setupSects byte, payloadOffset int, payload []byte) []byte {
	sects := int(setupSects)
	if sects == 0 {
		sects = 4
	}
	start := (sects+1)*512 + payloadOffset
	bz := make([]byte, start+len(payload)+64) // the real image has code after the payload
	bz[bootSetupSects] = setupSects
	copy(bz[bootHeaderMagic:], "HdrS")
	binary.LittleEndian.PutUint16(bz[bootVersion:], 0x020f)
	binary.LittleEndian.PutUint32(bz[bootPayloadOffset:], uint32(payloadOffset))
	binary.LittleEndian.PutUint32(bz[bootPayloadLength:], uint32(len(payload)))
	copy(bz[start:], payload)
	return bz
}

// xzPayload compresses data as the kernel build does (xz with a CRC32
// check) and appends the uncompressed size, as scripts/Makefile.lib's
// size_append does.
func xzPayload(t *testing.T, data []byte) []byte {
	t.Helper()
	cmd := exec.Command("xz", "--format=xz", "--check=crc32", "-0", "--stdout")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz: %v", err)
	}
	return binary.LittleEndian.AppendUint32(out, uint32(len(data)))
}

func requireXZ(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("xz"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xz is not installed and CI is set: apt-get install xz-utils")
		}
		t.Skip("xz is not installed (apt-get install xz-utils): the vmlinux extraction runs it")
	}
}

func TestExtractVmlinux(t *testing.T) {
	requireXZ(t)
	kernel := fakeELF(t, 200_000)
	payload := xzPayload(t, kernel)
	for _, c := range []struct {
		name   string
		sects  byte
		offset int
	}{
		{"debian-like", 39, 716},
		{"setup_sects 0 means 4", 0, 100},
		{"payload at the code start", 1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := extractVmlinux(fakeBzImage(c.sects, c.offset, payload))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, kernel) {
				t.Fatalf("extracted %d bytes that differ from the %d-byte original", len(got), len(kernel))
			}
		})
	}
}

func TestExtractVmlinuxRefuses(t *testing.T) {
	requireXZ(t)
	kernel := fakeELF(t, 10_000)
	payload := xzPayload(t, kernel)
	good := fakeBzImage(3, 64, payload)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	wrongSize := bytes.Clone(payload)
	binary.LittleEndian.PutUint32(wrongSize[len(wrongSize)-4:], uint32(len(kernel)+1))
	cases := []struct {
		name string
		img  []byte
		want string
	}{
		{"too short", good[:0x100], "too short"},
		{"no HdrS", mutate(func(b []byte) []byte { copy(b[bootHeaderMagic:], "XXXX"); return b }), "HdrS"},
		{"old protocol", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[bootVersion:], 0x0206); return b }), "2.08+"},
		{"payload out of range", mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[bootPayloadLength:], uint32(len(b)))
			return b
		}), "outside"},
		{"gzip payload", fakeBzImage(3, 64, append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}, payload...)), "not xz"},
		{"size mismatch", fakeBzImage(3, 64, wrongSize), "the image says"},
		{"not ELF", fakeBzImage(3, 64, xzPayload(t, []byte(strings.Repeat("not an elf file ", 100)))), "not ELF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := extractVmlinux(c.img)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
