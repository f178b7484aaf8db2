"""The studio's page in a real browser (headless Chromium through Selenium): upload a melody, harmonize, see the score
and the player, select two bars on the piano roll, draw them again, and find everything else unchanged."""

import shutil
import threading

import jax
import pytest

pytest.importorskip('flask')
webdriver = pytest.importorskip('selenium.webdriver')
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
DRIVER = shutil.which('chromedriver')
if not (CHROMIUM and DRIVER):
  pytest.skip('no Chromium and chromedriver installed (apt-get install chromium chromium-driver)',
              allow_module_level=True)

from selenium.webdriver.common.action_chains import ActionChains  # pylint: disable=wrong-import-position
from selenium.common.exceptions import WebDriverException  # pylint: disable=wrong-import-position
from selenium.webdriver.common.by import By  # pylint: disable=wrong-import-position
from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=wrong-import-position
from werkzeug.serving import make_server  # pylint: disable=wrong-import-position

import biaxial_jax as bj  # pylint: disable=wrong-import-position
from biaxial_jax import model  # pylint: disable=wrong-import-position
from biaxial_jax.studio.app import create_app  # pylint: disable=wrong-import-position
from biaxial_jax.studio.service import Studio  # pylint: disable=wrong-import-position
from tests.test_studio import CONFIG, TUNE, _cells  # pylint: disable=wrong-import-position


@pytest.fixture(scope='module')
def server():
  composer = bj.Composer(CONFIG, model.init_params(jax.random.key(0), CONFIG.model), step=0)
  httpd = make_server('127.0.0.1', 0, create_app(Studio(composer)), threaded=True)
  thread = threading.Thread(target=httpd.serve_forever, daemon=True)
  thread.start()
  yield f'http://127.0.0.1:{httpd.server_port}/'
  httpd.shutdown()


@pytest.fixture(scope='module')
def browser():
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  for argument in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--window-size=1400,1000'):
    options.add_argument(argument)
  try:
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
  except WebDriverException as e:  # installed but unable to start here (no display libraries, a sandbox)
    pytest.skip(f'Chromium does not start: {str(e).splitlines()[0][:200]}')
  yield driver
  driver.quit()


def _wait_for_version(browser, count: int):
  WebDriverWait(browser, 300).until(
      lambda d: d.execute_script('return versions.length') >= count or 'error' == d.find_element(
          By.ID, 'status').get_attribute('class'))
  assert browser.execute_script('return versions.length') == count, browser.find_element(By.ID, 'status').text


def test_upload_harmonize_select_two_bars_and_draw_them_again(server, browser, tmp_path):
  tune = tmp_path / 'tune.abc'
  tune.write_text(TUNE)
  browser.get(server)
  browser.find_element(By.ID, 'melody').send_keys(str(tune))
  particles = browser.find_element(By.NAME, 'particles')
  particles.send_keys('4')
  browser.find_element(By.ID, 'harmonize').click()
  _wait_for_version(browser, 1)
  assert browser.find_element(By.CSS_SELECTOR, '#score svg').is_displayed()  # the engraved score
  assert browser.find_element(By.ID, 'play').is_displayed()  # the player
  first = browser.execute_script('return versions[0]')
  roll = browser.find_element(By.ID, 'roll')
  width = roll.size['width']
  bar_x = [(start + 4) / first['steps'] * width - width / 2 for start in first['bars']]  # a step into each bar
  ActionChains(browser).move_to_element_with_offset(roll, bar_x[2], 0).click_and_hold().move_to_element_with_offset(
      roll, bar_x[3], 0).release().perform()
  assert browser.find_element(By.ID, 'selection').text == 'bars 2-3 selected'
  browser.find_element(By.ID, 'regenerate').click()
  _wait_for_version(browser, 2)
  second = browser.execute_script('return versions[1]')
  start, end = first['bars'][2], first['bars'][4]
  assert second['parent'] == first['version']
  assert _cells(second, start, end) == _cells(first, start, end)  # everything outside bars 2-3
  melody = sorted((n['start'], n['end'], n['pitch']) for n in first['notes'] if n['given'])
  assert sorted((n['start'], n['end'], n['pitch']) for n in second['notes'] if n['given']) == melody
  assert len(browser.find_elements(By.CSS_SELECTOR, '#versions li')) == 2
