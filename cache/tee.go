package cache

import "io"

// tee is the Divert target of a response being stored: it writes to the
// client and keeps a copy until the copy would exceed limit, when storing
// is abandoned and only the client write goes on. With a nil dst (a
// background refresh, which has no client) it only keeps the copy.
type tee struct {
	dst   io.Writer
	buf   []byte
	limit int64
	over  bool
}

func (t *tee) Write(p []byte) (int, error) {
	if !t.over {
		if int64(len(t.buf)+len(p)) > t.limit {
			t.over, t.buf = true, nil
		} else {
			t.buf = append(t.buf, p...)
		}
	}
	if t.dst == nil {
		return len(p), nil
	}
	return t.dst.Write(p)
}
