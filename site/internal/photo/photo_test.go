package photo

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
)

// sampleJPEG returns a w×h JPEG.
func sampleJPEG(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, gradient(w, h), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func samplePNG(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, gradient(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gradient(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	return img
}

// withEXIF inserts an APP1 Exif segment carrying a GPS-looking marker after the SOI.
func withEXIF(j []byte, marker string) []byte {
	payload := append([]byte("Exif\x00\x00"), []byte(marker)...)
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	out := append([]byte{}, j[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, j[2:]...)
}

func TestProcessStripsMetadataAndNamesByContent(t *testing.T) {
	const gps = "GPSLatitude 39.9042 N GPSLongitude 116.4074 E"
	in := withEXIF(sampleJPEG(t, 64, 48), gps)
	if !bytes.Contains(in, []byte(gps)) {
		t.Fatal("test input lacks the marker")
	}
	p, err := Process(in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Data, []byte("GPS")) || bytes.Contains(p.Data, []byte("Exif")) {
		t.Fatal("metadata survived re-encoding")
	}
	if p.ContentType != "image/jpeg" || p.Width != 64 || p.Height != 48 || !ValidName(p.Name) || !strings.HasSuffix(p.Name, ".jpg") {
		t.Fatalf("photo %+v", p)
	}
	if _, err := jpeg.Decode(bytes.NewReader(p.Data)); err != nil {
		t.Fatalf("output is not a JPEG: %v", err)
	}
	again, _ := Process(in)
	if again.Name != p.Name {
		t.Fatal("same upload, different name")
	}
	pp, err := Process(append(samplePNG(t, 40, 40), []byte("trailing junk with GPS")...))
	if err != nil || pp.ContentType != "image/png" || !strings.HasSuffix(pp.Name, ".png") || bytes.Contains(pp.Data, []byte("GPS")) {
		t.Fatalf("png: %+v %v", pp, err)
	}
	if ContentTypeOf(pp.Name) != "image/png" || ContentTypeOf(p.Name) != "image/jpeg" {
		t.Fatal("ContentTypeOf")
	}
}

func TestProcessRejectsBadUploads(t *testing.T) {
	big := sampleJPEG(t, 64, 64)
	cases := map[string][]byte{
		"empty":     nil,
		"oversized": append(big, make([]byte, MaxBytes)...),
		"text":      []byte("<?php echo 'hi'; ?>"),
		"gif":       []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
		"truncated": big[:len(big)/2],
		"tiny":      samplePNG(t, 8, 8),
		"huge dims": pngHeader(100000, 100000),
	}
	for name, in := range cases {
		_, err := Process(in)
		var pe *Error
		if !errors.As(err, &pe) || pe.Message == "" {
			t.Errorf("%s: %v, want a photo.Error with a message", name, err)
		}
	}
}

// pngHeader is a PNG that declares w×h pixels and carries no image data.
func pngHeader(w, h int) []byte {
	var b bytes.Buffer
	img := image.NewGray(image.Rect(0, 0, 1, 1))
	png.Encode(&b, img) //nolint:errcheck
	out := b.Bytes()
	// IHDR width/height at bytes 16..24
	out[16], out[17], out[18], out[19] = byte(w>>24), byte(w>>16), byte(w>>8), byte(w)
	out[20], out[21], out[22], out[23] = byte(h>>24), byte(h>>16), byte(h>>8), byte(h)
	return out
}

func TestValidName(t *testing.T) {
	good := strings.Repeat("a1", 32) + ".jpg"
	for name, want := range map[string]bool{good: true, strings.Repeat("a1", 32) + ".png": true, "../etc/passwd": false,
		strings.Repeat("A1", 32) + ".jpg": false, strings.Repeat("a1", 32) + ".gif": false, "": false} {
		if ValidName(name) != want {
			t.Errorf("ValidName(%q) = %v", name, !want)
		}
	}
}

// FuzzProcess: any input is a photo whose name matches its bytes, or a photo.Error; never a
// panic, and never an output larger than the limits allow.
func FuzzProcess(f *testing.F) {
	f.Add(sampleJPEG(f, 40, 40))
	f.Add(samplePNG(f, 33, 70))
	f.Add(withEXIF(sampleJPEG(f, 32, 32), "GPS"))
	f.Add(pngHeader(5000, 5000))
	f.Add([]byte("\xff\xd8\xff\xe0garbage"))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := Process(in)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a photo.Error", err)
			}
			return
		}
		if !ValidName(p.Name) || p.Width > MaxPixels || p.Height > MaxPixels {
			t.Fatalf("photo %s %dx%d", p.Name, p.Width, p.Height)
		}
		if again, err := Process(p.Data); err != nil || again.ContentType != p.ContentType {
			t.Fatalf("output does not process again: %v", err)
		}
	})
}
