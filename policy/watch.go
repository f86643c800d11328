package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// watchDebounce is how long Watch waits after the last file event before
// reloading, so that an editor's write-rename-chmod burst or a checkout of
// many files costs one compile.
const watchDebounce = 200 * time.Millisecond

// Watch reloads the policies when a file under Config.Dir changes
// (recursively, new subdirectories included), debounced by 200ms. It logs
// "policy reloaded" with the new revision, or "policy reload refused" with
// the compile error while the old revision keeps serving. It blocks until
// ctx is done and then returns nil; it fails at once when the engine loads
// from Options.FS or the directory cannot be watched.
func (e *Engine) Watch(ctx context.Context) error {
	if e.fsys != nil {
		return errors.New("policy: watch: policies are loaded from an fs.FS, not a directory")
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("policy: watch: %w", err)
	}
	defer w.Close()
	if err := watchTree(w, e.cfg.Dir); err != nil {
		return fmt.Errorf("policy: watch %s: %w", e.cfg.Dir, err)
	}

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			if ev.Op.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					if err := watchTree(w, ev.Name); err != nil {
						e.log.Warn("policy watch: cannot watch new directory", zap.Error(err))
					}
				}
			}
			timer.Reset(watchDebounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			e.log.Warn("policy watch error", zap.Error(err))
		case <-timer.C:
			before := e.Revision()
			if err := e.Reload(); err != nil {
				e.log.Error("policy reload refused",
					zap.String("revision", before), zap.Error(err))
				continue
			}
			if rev := e.Revision(); rev != before {
				e.log.Info("policy reloaded",
					zap.String("revision", rev), zap.String("previous", before))
			}
		}
	}
}

// watchTree adds dir and every directory below it to w.
func watchTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return w.Add(p)
		}
		return nil
	})
}
