package photo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
)

// Limits of an upload.
const (
	MaxBytes  = 5 << 20 // bytes of the uploaded file
	MaxPixels = 4096    // width and height, each
	MinPixels = 32
)

// Photo is a processed upload.
type Photo struct {
	Name        string // "<sha256 hex of Data>.jpg" or ".png"
	ContentType string // "image/jpeg" or "image/png"
	Data        []byte
	Width       int
	Height      int
}

// Error is a rejected upload; Message says in Chinese what to do.
type Error struct {
	Message string
	cause   error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return "photo: " + e.Message + ": " + e.cause.Error()
	}
	return "photo: " + e.Message
}

func (e *Error) Unwrap() error { return e.cause }

func reject(msg string, cause error) error { return &Error{Message: msg, cause: cause} }

// Process checks, decodes and re-encodes an uploaded image.
func Process(data []byte) (*Photo, error) {
	if len(data) == 0 {
		return nil, reject("请选择一张照片。", nil)
	}
	if len(data) > MaxBytes {
		return nil, reject(fmt.Sprintf("照片太大：最大 %d MB。", MaxBytes>>20), nil)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, reject("无法识别的图片：只支持 JPEG 和 PNG 格式。", err)
	}
	if format != "jpeg" && format != "png" {
		return nil, reject("只支持 JPEG 和 PNG 格式的照片。", nil)
	}
	if cfg.Width > MaxPixels || cfg.Height > MaxPixels {
		return nil, reject(fmt.Sprintf("照片尺寸太大：宽和高最多 %d 像素。", MaxPixels), nil)
	}
	if cfg.Width < MinPixels || cfg.Height < MinPixels {
		return nil, reject(fmt.Sprintf("照片太小：宽和高至少 %d 像素。", MinPixels), nil)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, reject("图片文件已损坏，无法读取，请换一张。", err)
	}
	b := img.Bounds()
	if b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, reject("图片文件已损坏，无法读取，请换一张。", errors.New("decoded size differs from the header"))
	}
	var out bytes.Buffer
	p := &Photo{Width: cfg.Width, Height: cfg.Height}
	if format == "png" {
		enc := png.Encoder{CompressionLevel: png.BestCompression}
		err = enc.Encode(&out, img)
		p.ContentType = "image/png"
	} else {
		err = jpeg.Encode(&out, img, &jpeg.Options{Quality: 85})
		p.ContentType = "image/jpeg"
	}
	if err != nil {
		return nil, reject("照片处理失败，请换一张。", err)
	}
	p.Data = out.Bytes()
	sum := sha256.Sum256(p.Data)
	ext := ".jpg"
	if format == "png" {
		ext = ".png"
	}
	p.Name = hex.EncodeToString(sum[:]) + ext
	return p, nil
}

// ValidName reports whether name has the form Process gives photos (for URL paths).
func ValidName(name string) bool {
	if len(name) != 64+4 {
		return false
	}
	if ext := name[64:]; ext != ".jpg" && ext != ".png" {
		return false
	}
	for _, c := range name[:64] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ContentTypeOf is the content type of a valid name.
func ContentTypeOf(name string) string {
	if len(name) > 4 && name[len(name)-4:] == ".png" {
		return "image/png"
	}
	return "image/jpeg"
}
