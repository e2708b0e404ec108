package cache

import (
	"encoding/binary"
	"net/http"
	"time"
)

// entryVersion is the first byte of an encoded entry; decoding refuses any
// other, so a format change makes old records plain misses.
const entryVersion = 0xC1

// AppendBinary appends the compact binary encoding of e to b (see
// [encoding.BinaryAppender]). Remote stores use it instead of JSON: it is
// a version byte followed by uvarint-length-prefixed fields and the raw
// body, with no field names and no escaping.
func (e *Entry) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, entryVersion)
	b = binary.AppendUvarint(b, uint64(e.Status))
	b = binary.AppendVarint(b, unixNano(e.RequestTime))
	b = binary.AppendVarint(b, unixNano(e.ResponseTime))
	b = appendString(b, e.URL)
	b = binary.AppendUvarint(b, uint64(len(e.Tags)))
	for _, t := range e.Tags {
		b = appendString(b, t)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Header)))
	for k, vs := range e.Header {
		b = appendString(b, k)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(e.Body)))
	return append(b, e.Body...), nil
}

// MarshalBinary returns the encoding described at [Entry.AppendBinary].
func (e *Entry) MarshalBinary() ([]byte, error) {
	return e.AppendBinary(make([]byte, 0, len(e.Body)+256))
}

// UnmarshalBinary decodes data (from [Entry.MarshalBinary]) into e. It
// returns [ErrCorrupt] for malformed input. Body and strings are copied, so
// data may be reused afterwards.
func (e *Entry) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	if d.byte() != entryVersion {
		return ErrCorrupt
	}
	status := d.uvarint()
	reqT := d.varint()
	respT := d.varint()
	url := d.string()
	nt := d.count()
	var tags []string
	if nt > 0 {
		tags = make([]string, 0, nt)
		for range nt {
			tags = append(tags, d.string())
		}
	}
	nh := d.count()
	h := make(http.Header, nh)
	for range nh {
		k := d.string()
		nv := d.count()
		vs := make([]string, 0, nv)
		for range nv {
			vs = append(vs, d.string())
		}
		h[k] = vs[:len(vs):len(vs)]
	}
	n := d.count()
	body := d.bytes(n)
	if d.bad || len(d.b) != 0 || status > 999 {
		return ErrCorrupt
	}
	e.Status = int(status)
	e.RequestTime = fromUnixNano(reqT)
	e.ResponseTime = fromUnixNano(respT)
	e.URL = url
	e.Tags = tags
	e.Header = h
	e.Body = append([]byte(nil), body...)
	e.meta.Store(nil)
	return nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads the encoding with bounds checks; any failure sets bad and
// makes every later read return zero values.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) byte() byte {
	if d.bad || len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.bad {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.bad {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that must fit in the remaining input (every counted
// item takes at least one byte), so corrupt input cannot force a huge
// allocation.
func (d *decoder) count() int {
	v := d.uvarint()
	if v > uint64(len(d.b)) {
		d.bad = true
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(n int) []byte {
	if d.bad || n > len(d.b) {
		d.bad = true
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) string() string {
	return string(d.bytes(d.count()))
}
